namespace ReverseSD.MLNet.Curriculum;

/// <summary>One stage of a curriculum: train for <see cref="Steps"/> optimiser steps on the samples in <see cref="Indices"/>.</summary>
public sealed record CurriculumStage(int[] Indices, int Steps);

/// <summary>
/// The second phase of the paper's curriculum (§3): the same total number of steps as the ordinary run,
/// starting with the easy chunk and adding the next chunk at each stage (growing prefixes, as the official code).
/// </summary>
public static class CurriculumSchedule
{
    /// <summary>
    /// Builds the stages easy → easy+medium → all. <paramref name="stageFractions"/> gives each stage's share of
    /// <paramref name="totalSteps"/> (default equal thirds); the last stage takes any rounding remainder.
    /// </summary>
    public static IReadOnlyList<CurriculumStage> GrowingPrefixes(CurriculumChunks chunks, int totalSteps, IReadOnlyList<double>? stageFractions = null)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(totalSteps);
        var fractions = stageFractions ?? [1 / 3.0, 1 / 3.0, 1 / 3.0];
        if (fractions.Count != 3 || fractions.Any(f => f < 0) || Math.Abs(fractions.Sum() - 1) > 1e-6)
            throw new ArgumentException("Curriculum stage fractions must be three non-negative numbers that sum to 1.", nameof(stageFractions));

        int[][] prefixes = [chunks.Easy, [.. chunks.Easy, .. chunks.Medium], chunks.Ordered];
        var stages = new List<CurriculumStage>(3);
        int used = 0, carried = 0;
        for (int s = 0; s < 3; s++)
        {
            int steps = s == 2 ? totalSteps - used : (int)Math.Round(fractions[s] * totalSteps);
            used += steps;
            // An empty chunk (e.g. no sample under the easy threshold) hands its steps to the next stage.
            if (prefixes[s].Length == 0) { carried += steps; continue; }
            if (steps + carried > 0) stages.Add(new CurriculumStage(prefixes[s], steps + carried));
            carried = 0;
        }
        return stages;
    }
}
