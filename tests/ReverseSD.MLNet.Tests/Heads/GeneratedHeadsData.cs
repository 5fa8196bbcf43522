using Microsoft.ML;
using Microsoft.ML.Data;

namespace ReverseSD.MLNet.Tests.Heads;

/// <summary>Random image features with a planted linear relation to unit-norm 384-d targets and to multi-hot labels.</summary>
internal static class GeneratedHeadsData
{
    public const int FeatureSize = 24, EmbeddingSize = 384, VocabularySize = 12;

    public sealed class Row
    {
        [VectorType(FeatureSize)] public float[] ImageFeatures { get; set; } = [];
        [VectorType(EmbeddingSize)] public float[] PromptEmbedding { get; set; } = [];
        [VectorType(VocabularySize)] public float[] VocabularyLabels { get; set; } = [];
    }

    /// <summary>Rows drawn from one planted relation (fixed by <paramref name="relationSeed"/>), samples by <paramref name="sampleSeed"/>.</summary>
    public static Row[] Rows(int count, int sampleSeed, int relationSeed = 42)
    {
        var relation = new Random(relationSeed);
        var w = Matrix(relation, FeatureSize, EmbeddingSize);
        var v = Matrix(relation, FeatureSize, VocabularySize);
        var offset = Enumerable.Range(0, EmbeddingSize).Select(_ => (float)relation.NextDouble()).ToArray();
        var random = new Random(sampleSeed);
        var rows = new Row[count];
        for (int r = 0; r < count; r++)
        {
            var x = Enumerable.Range(0, FeatureSize).Select(_ => (float)Gaussian(random)).ToArray();
            var y = Multiply(x, w, EmbeddingSize);
            for (int j = 0; j < y.Length; j++) y[j] = y[j] * 0.3f + offset[j] + 0.05f * (float)Gaussian(random);
            float norm = MathF.Sqrt(y.Sum(t => t * t));
            var labels = Multiply(x, v, VocabularySize).Select(t => t > 0.5f ? 1f : 0f).ToArray();
            rows[r] = new Row { ImageFeatures = x, PromptEmbedding = y.Select(t => t / norm).ToArray(), VocabularyLabels = labels };
        }
        return rows;
    }

    public static IDataView Load(MLContext ml, int count, int sampleSeed) => ml.Data.LoadFromEnumerable(Rows(count, sampleSeed));

    private static float[,] Matrix(Random random, int rows, int cols)
    {
        var m = new float[rows, cols];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) m[i, j] = (float)Gaussian(random) / MathF.Sqrt(rows);
        return m;
    }

    private static float[] Multiply(float[] x, float[,] m, int cols)
    {
        var y = new float[cols];
        for (int j = 0; j < cols; j++)
            for (int i = 0; i < x.Length; i++) y[j] += x[i] * m[i, j];
        return y;
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
