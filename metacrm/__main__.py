from metacrm.platform.cli import main

main()
