"""The factcheck pytest plugin (installed as `factcheck_pytest`, registered through the pytest11 entry point)."""

# Named as a plugin itself (`-p factcheck_pytest`, where plugins are not loaded by themselves), the package loads the
# plugin: alone it holds no hook, and no suite would be collected, the run passing with the gate off.
pytest_plugins = ["factcheck_pytest.plugin"]
