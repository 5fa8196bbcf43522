using ReverseSD.Cli;
using Spectre.Console.Cli.Testing;

namespace ReverseSD.MLNet.Tests;

/// <summary>Runs the `reversesd` command line in-process, as a user would call it, and captures its exit code and output.</summary>
internal static class CliRunner
{
    public static CommandAppResult Run(params string[] args)
    {
        var tester = new CommandAppTester();
        tester.Configure(CliApp.Configure);
        return tester.Run(args);
    }
}
