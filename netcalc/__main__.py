from netcalc.cli import main

main()
