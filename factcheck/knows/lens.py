"""The attribute lens: a relation's LRE applied at every layer and token position of a prompt.

Each cell of the grid is the token the LRE decodes from that hidden state,
i.e. which object of the relation that representation carries. On prompts
that distract the model, the lens can show the right object inside the
network while the output says something else.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from factcheck.cache import write_bytes_atomic
from factcheck.knows.knowcheck import AppliesToStates
from factcheck.model.language_model import LanguageModel

CELL_WIDTH = 9


@dataclass(frozen=True)
class LensGrid:
    prompt: str
    tokens: list[str]  # the prompt's tokens as text, one per position
    layers: list[int]  # block index of each row
    decoded: list[list[str]]  # [row][position]: top-1 token the LRE decodes there
    probability: list[list[float]]  # [row][position]: its probability
    target: str | None = None
    target_probability: list[list[float]] | None = None  # [row][position]: probability of the target's first token


@torch.no_grad()
def attribute_lens(
    model: LanguageModel,
    lre: AppliesToStates,
    prompt: str,
    target: str | None = None,
    layers: Sequence[int] | None = None,
    last_positions: int | None = None,
    answer_separator: str = " ",
) -> LensGrid:
    """Decode `lre` at every (layer, position) of `prompt`; `target` (e.g. the right object, after `answer_separator`:
    nothing after a chat prompt) is tracked if given.

    `last_positions` keeps only the prompt's last tokens (a long few-shot prompt
    times every layer times the vocabulary would not fit in memory otherwise).
    """
    rows = list(range(model.num_layers)) if layers is None else list(layers)
    encoded = model.encode([prompt])
    result = model.forward(encoded, layers=rows)
    start = 0 if last_positions is None else max(0, encoded.width - last_positions)
    states = torch.stack([result.block_outputs[layer][0, start:] for layer in rows])  # (rows, positions, hidden)
    logits = model.decode_state(lre.apply(states).to(model.dtype)).float()
    probabilities = torch.softmax(logits, dim=-1)
    best = probabilities.max(dim=-1)
    all_ids = encoded.input_ids[0].tolist()
    ids = all_ids[start:]
    decode = model.tokenizer.decode
    grid_target = None
    if target is not None:
        target_ids = model.tokenize([prompt + answer_separator + target])[0][0][len(all_ids) :]
        if target_ids:
            grid_target = probabilities[..., target_ids[0]].tolist()
    return LensGrid(
        prompt=prompt,
        tokens=[decode([t]) for t in ids],
        layers=rows,
        decoded=[[decode([t]) for t in row] for row in best.indices.tolist()],
        probability=best.values.tolist(),
        target=target,
        target_probability=grid_target,
    )


def _cell(text: str) -> str:
    shown = text.replace("\n", "\\n").strip() or repr(text)
    return shown[: CELL_WIDTH - 1].ljust(CELL_WIDTH - 1)


def render_text(grid: LensGrid, last_positions: int | None = 12) -> str:
    """A terminal grid: one row per layer (deepest first), one column per token of the prompt's end."""
    start = 0 if last_positions is None else max(0, len(grid.tokens) - last_positions)
    columns = range(start, len(grid.tokens))
    lines = ["layer | " + " ".join(_cell(grid.tokens[c]) for c in columns)]
    lines.append("-" * len(lines[0]))
    for row in reversed(range(len(grid.layers))):
        cells = " ".join(_cell(grid.decoded[row][c]) for c in columns)
        lines.append(f"{grid.layers[row]:>5} | {cells}")
    return "\n".join(lines)


# Written into each heatmap's PNG text chunk: `factcheck lens --png` replaces only an image of its own.
LENS_PNG_SOFTWARE = "factcheck attribute lens"


def is_lens_png(head: bytes) -> bool:
    """Whether a PNG file's first bytes (its text chunks come before the image data) are a heatmap of `png_bytes`."""
    return head.startswith(b"\x89PNG\r\n\x1a\n") and b"tEXtSoftware\x00" + LENS_PNG_SOFTWARE.encode() in head


def render_png(grid: LensGrid, path: str | Path, title: str = "", last_positions: int | None = 16) -> Path:
    """Write the heatmap of `png_bytes` to `path` (atomically)."""
    write_bytes_atomic(Path(path), png_bytes(grid, title, last_positions))
    return Path(path)


@functools.lru_cache(maxsize=1)
def _drawable_characters() -> frozenset[int]:
    """Code points the default font can draw."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    return frozenset(FT2Font(font_manager.findfont(font_manager.FontProperties())).get_charmap())


def drawable(text: str) -> str:
    """`text` with each character the font cannot draw written as its escape (\\u0930): a decoded token may be any
    script, and matplotlib would warn (an error under -W error) and draw a box. Dollar signs are drawn as they are."""
    known = _drawable_characters()
    text = "".join(ch if ord(ch) in known or ch.isspace() else ch.encode("unicode_escape").decode("ascii") for ch in text)
    return text.replace("$", r"\$")  # a dollar sign would start matplotlib's math markup (and fail on "$\frac{")


def png_bytes(grid: LensGrid, title: str = "", last_positions: int | None = 16) -> bytes:
    """A heatmap (layers x token positions) of the decoded token's probability, each cell labelled with it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start = 0 if last_positions is None else max(0, len(grid.tokens) - last_positions)
    columns = list(range(start, len(grid.tokens)))
    values = grid.target_probability if grid.target_probability is not None else grid.probability
    matrix = [[values[row][c] for c in columns] for row in range(len(grid.layers))]
    figure, axes = plt.subplots(figsize=(1.0 + 0.9 * len(columns), 1.0 + 0.28 * len(grid.layers)))
    image = axes.imshow(matrix, aspect="auto", origin="lower", cmap="viridis", vmin=0.0, vmax=1.0)
    for row in range(len(grid.layers)):
        for column_index, c in enumerate(columns):
            colour = "black" if matrix[row][column_index] > 0.6 else "white"
            axes.text(column_index, row, drawable(grid.decoded[row][c].strip()[:8]), ha="center", va="center", fontsize=6,
                      color=colour)
    axes.set_xticks(range(len(columns)), [drawable(grid.tokens[c].replace("\n", "\\n")) for c in columns], rotation=60,
                    ha="right", fontsize=7)
    axes.set_yticks(range(len(grid.layers)), [str(layer) for layer in grid.layers], fontsize=6)
    axes.set_xlabel("prompt token")
    axes.set_ylabel("layer (block output)")
    label = f"P({grid.target!r} first token)" if grid.target_probability is not None else "P(decoded token)"
    figure.colorbar(image, ax=axes, label=drawable(label))
    axes.set_title(drawable(title or f"attribute lens: {grid.prompt[-60:]!r}"), fontsize=9)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": LENS_PNG_SOFTWARE})
    plt.close(figure)
    return buffer.getvalue()
