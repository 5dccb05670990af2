from strongroom.cli.main import main

main()
