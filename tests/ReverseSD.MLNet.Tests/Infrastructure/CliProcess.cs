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

/// <summary>Starts the built tool as a real child process (its dll under dotnet), for tests that kill it.</summary>
internal static class CliChildProcess
{
    /// <summary>
    /// Starts `reversesd ARGS` with stdout and stderr redirected; <paramref name="temporaryFolder"/> becomes its TMPDIR,
    /// so what a killed process leaves there is deleted with the test's folder.
    /// </summary>
    public static System.Diagnostics.Process Start(string temporaryFolder, params string[] args)
    {
        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(typeof(CliApp).Assembly.Location);
        foreach (string a in args) start.ArgumentList.Add(a);
        start.Environment["TMPDIR"] = temporaryFolder;
        start.Environment["CI"] = "true";
        return System.Diagnostics.Process.Start(start) ?? throw new InvalidOperationException("Could not start the tool.");
    }

    /// <summary>
    /// Starts `reversesd ARGS` as <see cref="Start"/> does, waits (at most 3 minutes) until <paramref name="workKept"/> says it
    /// has committed some work, then kills it with SIGKILL, so no clean-up code runs; fails when no work was ever kept.
    /// </summary>
    public static void KillOnceWorkIsKept(string temporaryFolder, Func<bool> workKept, params string[] args)
    {
        using var process = Start(temporaryFolder, args);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        bool kept = false;
        while (!(kept = workKept()) && !process.HasExited && clock.Elapsed < TimeSpan.FromMinutes(3)) Thread.Sleep(10);
        Xunit.Assert.True(kept, "no chunk was ever kept: " + (process.HasExited ? process.StandardError.ReadToEnd() : "timeout"));
        process.Kill(entireProcessTree: true);
        process.WaitForExit();
    }
}
