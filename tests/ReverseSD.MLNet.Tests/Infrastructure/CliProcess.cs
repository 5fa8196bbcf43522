using ReverseSD.Cli;

namespace ReverseSD.MLNet.Tests;

/// <summary>What a run of the tool printed on stdout and stderr, and its exit code.</summary>
internal sealed record CliRun(int ExitCode, string Out, string Error)
{
    /// <summary>The non-empty lines of stderr.</summary>
    public string[] ErrorLines => Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}

/// <summary>Runs the tool in this process exactly as Program does, with stdout and stderr captured apart.</summary>
internal static class CliProcess
{
    public static CliRun Run(params string[] args)
    {
        var output = new StringWriter { NewLine = "\n" };
        var error = new StringWriter { NewLine = "\n" };
        int code = CliApp.RunAsync(args, output, error).GetAwaiter().GetResult();
        return new CliRun(code, output.ToString(), error.ToString());
    }
}
