from vstream.cli import run

run()
