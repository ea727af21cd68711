"""The ``medisac`` command line: one module per command group."""
