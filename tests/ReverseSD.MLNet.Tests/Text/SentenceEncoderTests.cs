using ReverseSD.MLNet.Text;
using Xunit.Abstractions;

namespace ReverseSD.MLNet.Tests.Text;

public sealed class SentenceEncoderTests(SentenceEncoderFixture fixture, ITestOutputHelper output) : IClassFixture<SentenceEncoderFixture>
{
    private SentenceEncoder Encoder => fixture.Encoder;

    [SkippableFact]
    public void KagglePromptsReproduceTheReferenceEmbeddings()
    {
        Skip.IfNot(SharedData.Available, SharedData.SkipReason);
        var golden = GoldenEmbeddings.Load();
        Assert.Equal(7, golden.Count);
        var vectors = Encoder.Encode(golden.Select(g => g.Prompt).ToList());
        var cosines = golden.Select((g, i) => GoldenEmbeddings.Cosine(vectors[i], g.Vector)).ToList();
        for (int i = 0; i < golden.Count; i++)
            output.WriteLine($"{golden[i].Id}: cosine {cosines[i]:F9}");
        output.WriteLine($"smallest cosine: {cosines.Min():F9} (1 - cos = {1 - cosines.Min():E2})");
        Assert.All(cosines, c => Assert.True(c >= 0.9999, $"cosine {c} < 0.9999"));
    }
}
