using Spectre.Console;

namespace ReverseSD.Cli;

/// <summary>
/// Where a command writes. The conventions every command follows:
/// <list type="bullet">
/// <item>Results (records a program reads: JSON, JSONL, CSV) go to <see cref="Out"/> through a <see cref="ResultWriter"/>,
/// a plain writer that never wraps lines; never through the console renderer.</item>
/// <item>Errors go to <see cref="Error"/> on one line ("error: ..."), printed only by <see cref="CliApp.HandleException"/>:
/// a command throws <c>ReverseSdInputException</c> (exit 2) and never prints an error itself.</item>
/// <item>Progress and warnings of a command that writes results to stdout go to <see cref="Diagnostics"/> (stderr);
/// other commands print their human summary (tables, "wrote X") on the injected <see cref="IAnsiConsole"/> (stdout).</item>
/// </list>
/// A command takes <c>CliStreams streams</c> as a constructor parameter beside <see cref="IAnsiConsole"/>.
/// </summary>
internal sealed class CliStreams
{
    private readonly Lazy<(TextWriter Out, TextWriter Error, IAnsiConsole Diagnostics)> _streams;

    /// <summary>Streams of a process: results on <paramref name="output"/>, errors and diagnostics on <paramref name="error"/>.</summary>
    public CliStreams(TextWriter output, TextWriter error)
    {
        var diagnostics = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(error) });
        _streams = new(() => (output, error, diagnostics));
    }

    /// <summary>Everything on one console, taken when first used (CommandAppTester's): results are written to its writer, unrendered.</summary>
    public CliStreams(Func<IAnsiConsole> console)
    {
        _streams = new(() =>
        {
            var c = console();
            return (c.Profile.Out.Writer, c.Profile.Out.Writer, c);
        });
    }

    /// <summary>Standard output: results only.</summary>
    public TextWriter Out => _streams.Value.Out;

    /// <summary>Standard error: the one error line, and one-line warnings.</summary>
    public TextWriter Error => _streams.Value.Error;

    /// <summary>A console on standard error for progress and warnings of commands whose results go to standard output.</summary>
    public IAnsiConsole Diagnostics => _streams.Value.Diagnostics;
}
