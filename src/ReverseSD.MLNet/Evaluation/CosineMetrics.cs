using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Data;

namespace ReverseSD.MLNet.Evaluation;

/// <summary>Mean cosine similarity between predicted and true prompt embeddings (the paper's metric, Eq. 1) with its standard error.</summary>
/// <param name="MeanCosine">Mean of <paramref name="SampleCosines"/>.</param>
/// <param name="StandardError">Sample standard deviation / √n (NaN for fewer than two samples).</param>
/// <param name="SampleCosines">The cosine of every sample, in input order (for paired t-tests).</param>
public sealed record CosineMetrics(double MeanCosine, double StandardError, IReadOnlyList<double> SampleCosines)
{
    /// <summary>Number of samples.</summary>
    public int Count => SampleCosines.Count;

    /// <summary>Computes the metrics from per-sample cosines.</summary>
    public static CosineMetrics FromSamples(IReadOnlyList<double> cosines)
    {
        ArgumentNullException.ThrowIfNull(cosines);
        if (cosines.Count == 0) throw new ArgumentException("No samples to evaluate.", nameof(cosines));
        double mean = cosines.Average();
        double se = double.NaN;
        if (cosines.Count > 1)
        {
            double ss = cosines.Sum(c => (c - mean) * (c - mean));
            se = Math.Sqrt(ss / (cosines.Count - 1)) / Math.Sqrt(cosines.Count);
        }
        return new CosineMetrics(mean, se, cosines);
    }
}

/// <summary>Evaluation of predicted prompt embeddings: model, mean-embedding baseline and visual-only ceiling (paper §4).</summary>
public static class PromptEmbeddingEvaluator
{
    /// <summary>Cosine similarity of two vectors (0 when either is zero).</summary>
    public static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"Vectors of {a.Length} and {b.Length} values cannot be compared.");
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }
        return na == 0 || nb == 0 ? 0 : dot / Math.Sqrt(na * nb);
    }

    /// <summary>Mean cosine of <paramref name="predicted"/>[i] against <paramref name="targets"/>[i].</summary>
    public static CosineMetrics Evaluate(IReadOnlyList<float[]> predicted, IReadOnlyList<float[]> targets)
    {
        ArgumentNullException.ThrowIfNull(predicted);
        ArgumentNullException.ThrowIfNull(targets);
        if (predicted.Count != targets.Count)
            throw new ArgumentException($"{predicted.Count} predictions for {targets.Count} targets.");
        return CosineMetrics.FromSamples(predicted.Select((p, i) => Cosine(p, targets[i])).ToArray());
    }

    /// <summary>Mean cosine between two vector columns of <paramref name="scored"/> (default "PredictedEmbedding" vs "PromptEmbedding").</summary>
    public static CosineMetrics Evaluate(IDataView scored, string predictedColumnName = ColumnNames.PredictedEmbedding, string targetColumnName = ColumnNames.PromptEmbedding)
    {
        ArgumentNullException.ThrowIfNull(scored);
        return Evaluate(ReadVectors(scored, predictedColumnName), ReadVectors(scored, targetColumnName));
    }

    /// <summary>The mean-embedding baseline's prediction: the L2-normalised mean of the training targets.</summary>
    public static float[] MeanEmbedding(IReadOnlyList<float[]> trainingTargets)
    {
        ArgumentNullException.ThrowIfNull(trainingTargets);
        if (trainingTargets.Count == 0) throw new ArgumentException("No training targets.", nameof(trainingTargets));
        var sum = new double[trainingTargets[0].Length];
        foreach (var t in trainingTargets)
            for (int i = 0; i < sum.Length; i++) sum[i] += t[i];
        double norm = Math.Sqrt(sum.Sum(v => v * v));
        return sum.Select(v => norm == 0 ? 0f : (float)(v / norm)).ToArray();
    }

    /// <summary>The baseline that predicts <paramref name="meanEmbedding"/> for every sample.</summary>
    public static CosineMetrics EvaluateConstant(float[] meanEmbedding, IReadOnlyList<float[]> targets) =>
        Evaluate(targets.Select(_ => meanEmbedding).ToArray(), targets);

    /// <summary>
    /// The visual-only ceiling on the generated benchmark: cosine between the embedding of each prompt and of its
    /// visual prompt (the words that change the picture), i.e. what a perfect reader of the image could reach.
    /// </summary>
    public static CosineMetrics VisualCeiling(IReadOnlyList<float[]> promptEmbeddings, IReadOnlyList<float[]> visualPromptEmbeddings) =>
        Evaluate(visualPromptEmbeddings, promptEmbeddings);

    /// <summary>Writes per-sample cosines as CSV (<c>index,image,cosine[,baseline_cosine]</c>, image = the image file), atomically.</summary>
    public static void WriteSampleCosines(string path, IReadOnlyList<string> ids, CosineMetrics model, CosineMetrics? baseline = null) =>
        WriteSampleCosines(path, ids, model, baseline, null);

    /// <summary>As <see cref="WriteSampleCosines(string, IReadOnlyList{string}, CosineMetrics, CosineMetrics?)"/>, with more named cosine columns after them.</summary>
    internal static void WriteSampleCosines(string path, IReadOnlyList<string> ids, CosineMetrics model, CosineMetrics? baseline,
        IReadOnlyList<(string Column, IReadOnlyList<double> Cosines)>? extra)
    {
        if (ids.Count != model.Count || (baseline != null && baseline.Count != model.Count) || (extra != null && extra.Any(e => e.Cosines.Count != model.Count)))
            throw new ArgumentException("Ids, model, baseline and other cosines must have the same length.");
        var header = new List<string> { "index", "image", "cosine" };
        if (baseline != null) header.Add("baseline_cosine");
        header.AddRange(extra?.Select(e => e.Column) ?? []);
        var rows = Enumerable.Range(0, ids.Count).Select(i =>
        {
            var row = new List<string> { i.ToString(CultureInfo.InvariantCulture), ids[i], model.SampleCosines[i].ToString("R", CultureInfo.InvariantCulture) };
            if (baseline != null) row.Add(baseline.SampleCosines[i].ToString("R", CultureInfo.InvariantCulture));
            row.AddRange(extra?.Select(e => e.Cosines[i].ToString("R", CultureInfo.InvariantCulture)) ?? []);
            return (IReadOnlyList<string>)row;
        }).ToList();
        CsvTable.Write(path, header, rows);
    }

    /// <summary>Reads the "cosine" column of a file written by <see cref="WriteSampleCosines(string, IReadOnlyList{string}, CosineMetrics, CosineMetrics?)"/>.</summary>
    public static IReadOnlyList<double> ReadSampleCosines(string path, string column = "cosine")
    {
        if (!File.Exists(path)) throw new ReverseSdInputException($"'{path}' does not exist: per-sample cosines come from 'reversesd evaluate'.");
        var (header, rows) = CsvTable.Read(path);
        int index = CsvTable.IndexOf(header, column);
        if (index < 0) throw new ReverseSdInputException($"'{path}' has no '{column}' column; its columns are: {string.Join(", ", header)}.");
        return rows.Select(r => double.Parse(r[index], NumberStyles.Float, CultureInfo.InvariantCulture)).ToArray();
    }

    internal static float[][] ReadVectors(IDataView data, string column)
    {
        var col = data.Schema.GetColumnOrNull(column)
            ?? throw new ArgumentOutOfRangeException(nameof(column), $"The data has no column '{column}'.");
        if (col.Type is not VectorDataViewType { ItemType: NumberDataViewType n } || n != NumberDataViewType.Single)
            throw new ArgumentOutOfRangeException(nameof(column), $"Column '{column}' must be a Single vector; it is {col.Type}.");
        var rows = new List<float[]>();
        using var cursor = data.GetRowCursor([col]);
        var getter = cursor.GetGetter<VBuffer<float>>(col);
        VBuffer<float> buffer = default;
        while (cursor.MoveNext())
        {
            getter(ref buffer);
            var row = new float[buffer.Length];
            buffer.CopyTo(row);
            rows.Add(row);
        }
        return rows.ToArray();
    }
}
