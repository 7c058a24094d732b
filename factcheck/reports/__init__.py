"""Run reports: the per-fact records, the summary table, the JSON report and the HTML report."""
