namespace ReverseSD.MLNet;

/// <summary>Progress wrappers that rename or prefix the stage of every report.</summary>
internal static class ProgressStages
{
    public static IProgress<ProgressReport>? Renamed(IProgress<ProgressReport>? progress, string stage)
        => progress == null ? null : new Relay(progress, _ => stage);

    public static IProgress<ProgressReport>? Prefixed(IProgress<ProgressReport>? progress, string prefix)
        => progress == null ? null : new Relay(progress, stage => prefix + stage);

    private sealed class Relay(IProgress<ProgressReport> inner, Func<string, string> stage) : IProgress<ProgressReport>
    {
        public void Report(ProgressReport value) => inner.Report(value with { Stage = stage(value.Stage) });
    }
}
