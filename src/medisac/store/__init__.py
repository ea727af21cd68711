"""The store: SQLAlchemy Core tables, migrations, and the merge step."""
