from aos_multinode.cli import main

main()
