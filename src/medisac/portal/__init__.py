"""The member and analyst web portal served at ``/`` by ``medisac serve``."""
