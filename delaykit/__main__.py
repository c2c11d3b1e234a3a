from delaykit.cli.main import run

run()
