# Root conftest: pytest only honours `pytest_plugins` here. pytester drives the plugin's own tests.
pytest_plugins = ("pytester",)
