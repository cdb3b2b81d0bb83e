from pixelforge.cli import main

main(prog_name="pixelforge")
