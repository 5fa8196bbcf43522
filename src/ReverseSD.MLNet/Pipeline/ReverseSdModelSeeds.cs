using Microsoft.ML;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Retrieval;
using ReverseSD.MLNet.Text;

namespace ReverseSD.MLNet.Pipeline;

/// <summary>The seed analysis of a model and of the kNN regression baseline on one split (paper §4.7).</summary>
/// <param name="Split">The analysed split.</param>
/// <param name="Model">The model's statistics.</param>
/// <param name="NearestNeighbors">The kNN baseline's statistics; null when it was not run (see <paramref name="NearestNeighborsNote"/>).</param>
/// <param name="NearestNeighborsNote">Which kNN variant ran (image-to-image, in the model's ImageFeatures space), or why none did.</param>
/// <param name="SkippedImages">Images of the split that do not decode (left out).</param>
public sealed record SeedAnalysisReport(string Split, SeedNoiseStatistics Model, SeedNoiseStatistics? NearestNeighbors, string NearestNeighborsNote, int SkippedImages);

public static partial class ReverseSdModel
{
    /// <summary>
    /// Scores every image of a split with several images per prompt and measures how much the predictions move with the
    /// generation seed (paper §4.7), for the model and for a kNN regression baseline (k nearest training images in the model's
    /// ImageFeatures space; <paramref name="nearestNeighbors"/> = 0 leaves it out).
    /// </summary>
    public static SeedAnalysisReport AnalyzeSeeds(MLContext mlContext, ITransformer model, string dataDirectory, string split = "test",
        int nearestNeighbors = 10, IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfNegative(nearestNeighbors);
        DataFolder.Check(dataDirectory, split);
        var (rows, skipped) = ReadableRows(mlContext, dataDirectory, split, progress, cancellationToken);
        var (predicted, features) = Score(mlContext, model, rows, split, progress, cancellationToken);
        float[][] targets;
        using (var encoder = SentenceEncoder.Load())
            targets = PreparedSplits.Encode(encoder, rows.Select(r => r.Prompt).ToList(), split, progress, cancellationToken);
        var prompts = rows.Select(r => r.Prompt).ToList();
        var modelStatistics = SeedNoise.Measure(prompts, predicted, targets);

        if (nearestNeighbors == 0) return new SeedAnalysisReport(split, modelStatistics, null, "not run (k = 0)", skipped);
        if (features == null)
            return new SeedAnalysisReport(split, modelStatistics, null, $"not run: the model outputs no {ColumnNames.ImageFeatures} column", skipped);
        DataFolder.Check(dataDirectory, "train");
        var (trainRows, _) = ReadableRows(mlContext, dataDirectory, "train", progress, cancellationToken);
        var (_, trainFeatures) = Score(mlContext, model, trainRows, "train", progress, cancellationToken);
        float[][] trainTargets;
        using (var encoder = SentenceEncoder.Load())
            trainTargets = PreparedSplits.Encode(encoder, trainRows.Select(r => r.Prompt).ToList(), "train", progress, cancellationToken);
        int f = features[0].Length, d = trainTargets[0].Length;
        using var knn = mlContext.Regression.Trainers.NearestNeighborRegression(ColumnNames.ImageFeatures, ColumnNames.PromptEmbedding, ColumnNames.PredictedEmbedding, nearestNeighbors)
            .Fit(new VectorTableDataView((ColumnNames.ImageFeatures, f, trainFeatures!), (ColumnNames.PromptEmbedding, d, trainTargets)));
        var knnPredicted = PromptEmbeddingEvaluator.ReadVectors(
            knn.Transform(new VectorTableDataView((ColumnNames.ImageFeatures, f, features))), ColumnNames.PredictedEmbedding).ToArray();
        return new SeedAnalysisReport(split, modelStatistics, SeedNoise.Measure(prompts, knnPredicted, targets),
            $"image-to-image: k = {Math.Min(nearestNeighbors, trainRows.Count)} nearest training images in the model's {ColumnNames.ImageFeatures} space, similarity-weighted mean of their prompt embeddings", skipped);
    }

    private static (List<ImagePromptRow> Rows, int Skipped) ReadableRows(MLContext mlContext, string dataDirectory, string split,
        IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        var rows = mlContext.Data.CreateEnumerable<ImagePromptRow>(ImageFolderDataset.Load(mlContext, dataDirectory, split), reuseRowObject: false).ToList();
        var unreadable = ImageValidation.FindUnreadable(rows.Select(r => r.ImagePath).ToList(), progress, cancellationToken)
            .Select(u => u.Path).ToHashSet(StringComparer.Ordinal);
        var good = rows.Where(r => !unreadable.Contains(r.ImagePath)).ToList();
        if (good.Count == 0) throw new ReverseSdInputException($"The '{split}' split of '{dataDirectory}' has no readable image.");
        return (good, unreadable.Count);
    }

    /// <summary>The predicted embeddings and, when the model exposes them, the backbone's ImageFeatures of every row.</summary>
    private static (float[][] Predicted, float[][]? Features) Score(MLContext mlContext, ITransformer model, List<ImagePromptRow> rows, string split,
        IProgress<ProgressReport>? progress, CancellationToken cancellationToken)
    {
        var predicted = new List<float[]>();
        var features = new List<float[]>();
        bool hasFeatures = model.GetOutputSchema(ReverseSdModelFormat.ImageInputSchema(mlContext)).GetColumnOrNull(ColumnNames.ImageFeatures) != null;
        const int chunk = 32;
        for (int start = 0; start < rows.Count; start += chunk)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var batch = rows.Skip(start).Take(chunk).Select(r => new ImageInput { ImagePath = r.ImagePath }).ToList();
            var scored = model.Transform(mlContext.Data.LoadFromEnumerable(batch));
            predicted.AddRange(PromptEmbeddingEvaluator.ReadVectors(scored, ColumnNames.PredictedEmbedding));
            if (hasFeatures) features.AddRange(PromptEmbeddingEvaluator.ReadVectors(scored, ColumnNames.ImageFeatures));
            progress?.Report(new ProgressReport("scoring " + split, predicted.Count, rows.Count));
        }
        return ([.. predicted], hasFeatures ? [.. features] : null);
    }
}
