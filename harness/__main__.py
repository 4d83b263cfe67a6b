"""`python -m harness` is the `athbench` command."""

from harness.cli import main

main()
