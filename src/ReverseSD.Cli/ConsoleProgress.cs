using ReverseSD.MLNet;
using Spectre.Console;

namespace ReverseSD.Cli;

/// <summary>
/// Shows <see cref="ProgressReport"/>s as a live Spectre.Console progress display, or as plain lines when
/// CI=true or the output is redirected (as devlooped/dotnet-retest does).
/// </summary>
internal static class ConsoleProgress
{
    /// <summary>True when progress should be printed as plain lines.</summary>
    public static bool Plain(IAnsiConsole console) =>
        string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase)
        || !console.Profile.Capabilities.Interactive;

    /// <summary>
    /// True when a live progress display can be drawn (an interactive terminal that takes ANSI codes, not CI): commands
    /// whose results go to stdout show progress on stderr only then, so a redirected run prints nothing but its results.
    /// </summary>
    public static bool Live(IAnsiConsole console) => !Plain(console) && console.Profile.Capabilities.Ansi;

    /// <summary>Runs <paramref name="work"/> with an <see cref="IProgress{T}"/> that renders its reports.</summary>
    public static T Run<T>(IAnsiConsole console, string title, Func<IProgress<ProgressReport>, T> work)
    {
        if (Plain(console))
        {
            var lastLine = new Dictionary<string, DateTime>();
            return work(new SyncProgress(r =>
            {
                // Plain mode: one line per message, or per 10 % step of a counted task.
                bool end = r.Total > 0 && r.Done >= r.Total;
                var now = DateTime.UtcNow;
                if (r.Message == null && !end && lastLine.TryGetValue(r.Stage, out var t) && (now - t).TotalSeconds < 5) return;
                lastLine[r.Stage] = now;
                string count = r.Total > 0 ? $" {r.Done}/{r.Total}" : r.Done > 0 ? $" {r.Done}" : "";
                console.MarkupLineInterpolated($"[grey]{r.Stage}{count}[/] {r.Message ?? ""}");
            }));
        }
        T result = default!;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                result = work(new SyncProgress(r =>
                {
                    if (!tasks.TryGetValue(r.Stage, out var task))
                        tasks[r.Stage] = task = ctx.AddTask(Markup.Escape(r.Stage), maxValue: Math.Max(1, r.Total));
                    if (r.Total > 0) task.MaxValue = r.Total;
                    else task.IsIndeterminate = true;
                    task.Value = r.Done;
                    if (r.Message != null) task.Description = Markup.Escape($"{r.Stage}: {r.Message}");
                    if (r.Total > 0 && r.Done >= r.Total) task.StopTask();
                }));
                foreach (var t in tasks.Values) t.StopTask();
            });
        return result;
    }

    /// <summary>Invokes the handler on the reporting thread (unlike <see cref="Progress{T}"/>, which posts to a context).</summary>
    private sealed class SyncProgress(Action<ProgressReport> handler) : IProgress<ProgressReport>
    {
        private readonly Lock _gate = new();

        public void Report(ProgressReport value)
        {
            lock (_gate) handler(value);
        }
    }
}
