from netcalc.cli import console_main

console_main()
