import AONodeCLI

await AONodeCommand.main()
