using Microsoft.ML;
using ReverseSD.MLNet.Ensemble;
using ReverseSD.MLNet.Retrieval;
using ReverseSD.MLNet.Tests.Retrieval;

namespace ReverseSD.MLNet.Tests.Ensemble;

public sealed class EmbeddingEnsembleTests
{
    private sealed class Row
    {
        public float[] A { get; set; } = [];
        public float[] B { get; set; } = [];
        public float[] C { get; set; } = [];
        public float[] E { get; set; } = [];
        public float[] PromptEmbedding { get; set; } = [];
    }

    private static IDataView Load(MLContext ml, IEnumerable<Row> rows, int d)
        => VectorData.Load(ml, rows.ToArray(), ("A", d), ("B", d), ("C", d), ("E", d), ("PromptEmbedding", d));

    private static float[] Combine(MLContext ml, Row row, string[] members, EnsembleCombination combination, float[]? weights = null)
    {
        var data = Load(ml, [row], row.A.Length);
        using var model = ml.Transforms.CombineEmbeddings(members, "Out", combination, weights).Fit(data);
        return VectorData.ReadColumn(model.Transform(data), "Out").Single();
    }

    // Members before normalisation; normalised they are a = (0.6, 0.8, 0), b = (0, 0, 1), c = (0, 1, 0), e = (1, 0, 0).
    private static readonly Row Hand = new() { A = [3, 4, 0], B = [0, 0, 2], C = [0, 5, 0], E = [0.5f, 0, 0], PromptEmbedding = [1, 0, 0] };

    [Fact]
    public void MeanNormalisesEachMemberThenTheSum()
    {
        // (0.6, 0.8, 0) + (0, 0, 1) = (0.6, 0.8, 1), norm √2.
        var y = Combine(new MLContext(1), Hand, ["A", "B"], EnsembleCombination.Mean);
        VectorData.AssertClose([[0.6f / MathF.Sqrt(2), 0.8f / MathF.Sqrt(2), 1 / MathF.Sqrt(2)]], [y], 1e-6);
    }

    [Fact]
    public void WeightedMeanUsesTheGivenWeights()
    {
        // 0.75 (0.6, 0.8, 0) + 0.25 (0, 0, 1) = (0.45, 0.6, 0.25), norm √0.625.
        var y = Combine(new MLContext(1), Hand, ["A", "B"], EnsembleCombination.WeightedMean, [3, 1]);
        float norm = MathF.Sqrt(0.625f);
        VectorData.AssertClose([[0.45f / norm, 0.6f / norm, 0.25f / norm]], [y], 1e-6);
    }

    [Fact]
    public void MedianTakesTheMiddleValueForOddAndTheMeanOfTheTwoMiddleValuesForEvenCounts()
    {
        var ml = new MLContext(1);
        // Three members a, b, c: x {0.6, 0, 0} -> 0, y {0.8, 0, 1} -> 0.8, z {0, 1, 0} -> 0.
        VectorData.AssertClose([[0, 1, 0]], [Combine(ml, Hand, ["A", "B", "C"], EnsembleCombination.Median)], 1e-6);
        // Four members a, b, c, e: x {0, 0, 0.6, 1} -> 0.3, y {0, 0, 0.8, 1} -> 0.4, z {0, 0, 0, 1} -> 0.
        VectorData.AssertClose([[0.6f, 0.8f, 0]], [Combine(ml, Hand, ["A", "B", "C", "E"], EnsembleCombination.Median)], 1e-6);
    }

    [Theory]
    [InlineData(EnsembleCombination.Mean, 4)]
    [InlineData(EnsembleCombination.WeightedMean, 4)]
    [InlineData(EnsembleCombination.Median, 4)]
    [InlineData(EnsembleCombination.Median, 3)]
    public void CompiledGraphEqualsTheInMemoryCombinationAndSurvivesSaveLoad(EnsembleCombination combination, int members)
    {
        var ml = new MLContext(1);
        var random = new Random(3);
        var rows = Enumerable.Range(0, 25).Select(_ => new Row
        {
            A = VectorData.Random(random, 1, 10)[0], B = VectorData.Random(random, 1, 10)[0], C = VectorData.Random(random, 1, 10)[0],
            E = VectorData.Random(random, 1, 10)[0], PromptEmbedding = new float[10],
        }).ToArray();
        var data = Load(ml, rows, 10);
        string[] names = new[] { "A", "B", "C", "E" }[..members];
        float[]? weights = combination == EnsembleCombination.WeightedMean ? [0.1f, 0.4f, 0.2f, 0.3f] : null;
        using var model = ml.Transforms.CombineEmbeddings(names, "Out", combination, weights).Fit(data);
        var onnx = VectorData.ReadColumn(model.Transform(data), "Out");

        var matrices = names.Select(n => EmbeddingMatrix.FromRows(rows.Select(r => (float[])typeof(Row).GetProperty(n)!.GetValue(r)!).ToArray())).ToArray();
        var expected = EmbeddingCombiner.Combine(matrices, combination, weights).Chunk(10).ToArray();
        VectorData.AssertClose(expected, onnx, 1e-6);
        VectorData.AssertClose(onnx, VectorData.SaveLoadAndRead(ml, model, data, "Out"), 0);
    }

    [Fact]
    public void WeightSearchPutsMostWeightOnTheInformativeMember()
    {
        var ml = new MLContext(1);
        var random = new Random(9);
        var rows = Enumerable.Range(0, 200).Select(_ =>
        {
            var target = VectorData.Random(random, 1, 16)[0];
            var noise = VectorData.Random(random, 1, 16)[0];
            return new Row
            {
                A = target.Zip(noise, (t, n) => t + 0.3f * n).ToArray(),    // informative
                B = VectorData.Random(random, 1, 16)[0],                    // unrelated
                C = target.Zip(noise, (t, n) => t + 3f * n).ToArray(),      // weakly informative
                E = new float[16], PromptEmbedding = target,
            };
        }).ToArray();
        var data = Load(ml, rows, 16);
        using var model = ml.Transforms.CombineEmbeddings(new EmbeddingEnsembleOptions
        {
            InputColumnNames = ["A", "B", "C"], OutputColumnName = "Out", Combination = EnsembleCombination.WeightedMean,
        }).Fit(data);
        Assert.Equal(1f, model.Weights.Sum(), 4);
        Assert.True(model.Weights[0] > 0.8f, $"weights {string.Join(", ", model.Weights)}");
        Assert.True(model.Weights[1] < 0.05f, $"weights {string.Join(", ", model.Weights)}");
        var meanMember = EnsembleAblation.Evaluate(data, ["A", "B", "C"]).Last().MeanCosine;
        Assert.True(model.SearchedMeanCosine > meanMember, $"{model.SearchedMeanCosine} vs equal weights {meanMember}");
    }

    [Fact]
    public void AblationListsEveryNonEmptyCombinationInTable9Order()
    {
        var ml = new MLContext(1);
        var random = new Random(4);
        var rows = Enumerable.Range(0, 20).Select(_ => new Row
        {
            A = VectorData.Random(random, 1, 5)[0], B = VectorData.Random(random, 1, 5)[0], C = VectorData.Random(random, 1, 5)[0],
            E = new float[5], PromptEmbedding = VectorData.Random(random, 1, 5)[0],
        }).ToArray();
        var table = EnsembleAblation.Evaluate(Load(ml, rows, 5), ["A", "B", "C"]);
        Assert.Equal(["A", "B", "C", "A+B", "A+C", "B+C", "A+B+C"], table.Select(r => string.Join("+", r.Members)));
        double Cos(float[] x, float[] y) => VectorData.Normalise(x).Zip(VectorData.Normalise(y), (a, b) => (double)a * b).Sum();
        Assert.Equal(rows.Average(r => Cos(r.B, r.PromptEmbedding)), table[1].MeanCosine, 6);
        var pair = rows.Average(r => Cos(VectorData.Normalise(r.A).Zip(VectorData.Normalise(r.C), (a, c) => a + c).ToArray(), r.PromptEmbedding));
        Assert.Equal(pair, table[4].MeanCosine, 6);
    }

    [Fact]
    public void InvalidOptionsAreRejectedWhenTheEstimatorIsBuilt()
    {
        var ml = new MLContext(1);
        Assert.Throws<ArgumentException>(() => ml.Transforms.CombineEmbeddings(["A", "B"], "A"));
        Assert.Throws<ArgumentException>(() => ml.Transforms.CombineEmbeddings([]));
        Assert.Throws<ArgumentException>(() => ml.Transforms.CombineEmbeddings(["A", "B"], "Out", EnsembleCombination.WeightedMean, [1]));
        Assert.Throws<ArgumentException>(() => ml.Transforms.CombineEmbeddings(["A", "B"], "Out", EnsembleCombination.Mean, [1, 1]));
        var data = Load(ml, [Hand], 3);
        Assert.Throws<ReverseSdInputException>(() => ml.Transforms.CombineEmbeddings(["A", "Missing"]).GetOutputSchema(SchemaShapes.Of(data.Schema)));
    }
}
