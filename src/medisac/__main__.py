from medisac.cli.main import run

run()
