"""The factcheck pytest plugin (installed as `factcheck_pytest`, registered through the pytest11 entry point)."""
