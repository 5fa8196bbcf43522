using Microsoft.ML;
using ReverseSD.MLNet.Retrieval;

namespace ReverseSD.MLNet.Tests.Retrieval;

public sealed class NearestPromptsTests
{
    private sealed class BankRow
    {
        public string Prompt { get; set; } = "";
        public float[] PromptEmbedding { get; set; } = [];
    }

    private sealed class QueryRow
    {
        public float[] PredictedEmbedding { get; set; } = [];
    }

    [Fact]
    public void ReturnsTheMostSimilarDistinctPromptsWithTheirCosinesThroughSaveAndLoad()
    {
        var ml = new MLContext(seed: 1);
        var random = new Random(5);
        var embeddings = VectorData.Random(random, 30, 6);
        var prompts = Enumerable.Range(0, 30).Select(i => $"prompt {i}").ToArray();
        prompts[7] = "prompt 3";   // a repeated prompt is kept once (first occurrence)
        var bank = VectorData.Load(ml, prompts.Zip(embeddings, (p, e) => new BankRow { Prompt = p, PromptEmbedding = e }).ToArray(), ("PromptEmbedding", 6));
        var queries = VectorData.Random(random, 8, 6);
        var data = VectorData.Load(ml, queries.Select(q => new QueryRow { PredictedEmbedding = q }).ToArray(), ("PredictedEmbedding", 6));

        using var model = ml.Transforms.NearestPrompts(bank, numberOfPrompts: 4).Fit(data);
        Assert.Equal(29, model.BankSize);
        string path = Path.Combine(Path.GetTempPath(), $"reversesd-{Guid.NewGuid():N}.zip");
        try
        {
            ml.Model.Save(model, data.Schema, path);
            var loaded = ml.Model.Load(path, out _);
            foreach (var scorer in new[] { (ITransformer)model, loaded })
            {
                var scored = scorer.Transform(data);
                var texts = VectorData.ReadTextColumn(scored, "NearestPrompts");
                var scores = VectorData.ReadColumn(scored, "NearestPromptScores");
                for (int i = 0; i < queries.Length; i++)
                {
                    var q = VectorData.Normalise(queries[i]);
                    var expected = Enumerable.Range(0, 30).Where(j => j != 7)
                        .Select(j => (Prompt: prompts[j], Cos: VectorData.Normalise(embeddings[j]).Zip(q, (a, b) => (double)a * b).Sum()))
                        .OrderByDescending(x => x.Cos).Take(4).ToArray();
                    Assert.Equal(expected.Select(x => x.Prompt), texts[i]);
                    VectorData.AssertClose([expected.Select(x => (float)x.Cos).ToArray()], [scores[i]], 1e-5);
                }
            }
            (loaded as IDisposable)?.Dispose();
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void AnEmbeddingOfAnotherSizeIsRejected()
    {
        var ml = new MLContext(seed: 1);
        var bank = VectorData.Load(ml, new[] { new BankRow { Prompt = "a", PromptEmbedding = [1, 0, 0] } }, ("PromptEmbedding", 3));
        var data = VectorData.Load(ml, new[] { new QueryRow { PredictedEmbedding = [1, 0] } }, ("PredictedEmbedding", 2));
        var error = Assert.Throws<ReverseSdInputException>(() => ml.Transforms.NearestPrompts(bank).Fit(data));
        Assert.Contains("PredictedEmbedding", error.Message);
    }
}
