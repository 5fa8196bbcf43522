using System.Collections.Concurrent;
using System.Diagnostics;

namespace ReverseSD.MLNet;

/// <summary>
/// Wall time per named phase of one run, summed over its occurrences (what <c>predict --verbose</c> prints). Off by
/// default; off, a measure costs one check. For finding where the time goes, never for asserting a speed.
/// </summary>
internal static class PhaseTimes
{
    private static readonly ConcurrentDictionary<string, (long Ticks, int Count, int Order)> Phases = new(StringComparer.Ordinal);
    private static int _order;

    /// <summary>True while phases are recorded.</summary>
    public static bool Enabled { get; set; }

    /// <summary>Measures the phase from now until the returned scope is disposed.</summary>
    public static Scope Measure(string phase) => new(Enabled ? phase : null, Enabled ? Stopwatch.GetTimestamp() : 0);

    /// <summary>Adds <paramref name="elapsed"/> to <paramref name="phase"/> (a phase measured elsewhere).</summary>
    public static void Add(string phase, TimeSpan elapsed)
    {
        if (!Enabled) return;
        int order = Interlocked.Increment(ref _order);
        Phases.AddOrUpdate(phase, _ => (elapsed.Ticks, 1, order), (_, p) => (p.Ticks + elapsed.Ticks, p.Count + 1, p.Order));
    }

    /// <summary>The phases recorded so far, in the order they were first seen.</summary>
    public static IReadOnlyList<(string Phase, TimeSpan Wall, int Count)> Snapshot() =>
        Phases.OrderBy(p => p.Value.Order).Select(p => (p.Key, TimeSpan.FromTicks(p.Value.Ticks), p.Value.Count)).ToList();

    /// <summary>Forgets every phase.</summary>
    public static void Clear() => Phases.Clear();

    /// <summary>One measure; disposing it records the time since it started.</summary>
    public readonly struct Scope(string? phase, long start) : IDisposable
    {
        /// <summary>Records the phase's time.</summary>
        public void Dispose()
        {
            if (phase != null) Add(phase, Stopwatch.GetElapsedTime(start));
        }
    }
}
