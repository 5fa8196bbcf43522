namespace ReverseSD.MLNet.Evaluation;

/// <summary>Robustness of one predictor to the generation seed (paper §4.7) over a split with several images per prompt.</summary>
/// <param name="Prompts">Prompts with at least two images (the ones the statistic averages over).</param>
/// <param name="Images">Images of those prompts.</param>
/// <param name="MeanStandardDeviation">
/// The paper's statistic: per prompt, the standard deviation (population, divisor n) over its images of the cosine between each
/// prediction and the prompt's mean prediction, averaged over prompts (paper: 0.0175 for its ensemble on DiffusionDB).
/// </param>
/// <param name="MeanCosine">Mean cosine between each of those images' prediction and its prompt's embedding.</param>
public sealed record SeedNoiseStatistics(int Prompts, int Images, double MeanStandardDeviation, double MeanCosine);

/// <summary>Measures how much predictions move when only the generation seed changes (paper §4.7).</summary>
public static class SeedNoise
{
    /// <summary>
    /// Groups the rows by prompt text and computes <see cref="SeedNoiseStatistics"/>; prompts with a single image are left out.
    /// Throws a <see cref="ReverseSdInputException"/> when no prompt has two images.
    /// </summary>
    public static SeedNoiseStatistics Measure(IReadOnlyList<string> prompts, IReadOnlyList<float[]> predictions, IReadOnlyList<float[]> targets)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(predictions);
        ArgumentNullException.ThrowIfNull(targets);
        if (predictions.Count != prompts.Count || targets.Count != prompts.Count)
            throw new ArgumentException($"{prompts.Count} prompts, {predictions.Count} predictions and {targets.Count} targets: one of each per image is needed.");
        var groups = Enumerable.Range(0, prompts.Count).GroupBy(i => prompts[i], StringComparer.Ordinal).Where(g => g.Count() > 1).ToList();
        if (groups.Count == 0)
            throw new ReverseSdInputException(
                "No prompt has two or more images: the seed analysis needs several images per prompt (make them with 'reversesd data synth --seeds-per-prompt 5').");
        double stdSum = 0, cosineSum = 0;
        int images = 0;
        foreach (var group in groups)
        {
            int[] rows = [.. group];
            int size = predictions[rows[0]].Length;
            var mean = new double[size];
            foreach (int i in rows)
                for (int j = 0; j < size; j++) mean[j] += predictions[i][j];
            var meanVector = mean.Select(v => (float)(v / rows.Length)).ToArray();
            var cosines = rows.Select(i => PromptEmbeddingEvaluator.Cosine(predictions[i], meanVector)).ToArray();
            double average = cosines.Average();
            stdSum += Math.Sqrt(cosines.Sum(c => (c - average) * (c - average)) / cosines.Length);
            cosineSum += rows.Sum(i => PromptEmbeddingEvaluator.Cosine(predictions[i], targets[i]));
            images += rows.Length;
        }
        return new SeedNoiseStatistics(groups.Count, images, stdSum / groups.Count, cosineSum / images);
    }
}
