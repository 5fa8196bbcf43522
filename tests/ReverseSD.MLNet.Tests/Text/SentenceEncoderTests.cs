using ReverseSD.MLNet.Text;
using Xunit.Abstractions;

namespace ReverseSD.MLNet.Tests.Text;

public sealed class SentenceEncoderTests(SentenceEncoderFixture fixture, ITestOutputHelper output) : IClassFixture<SentenceEncoderFixture>
{
    private static readonly Lazy<string[]> Vocabulary = new(SentenceEncoder.ReadVocabulary);

    private SentenceEncoder Encoder => fixture.Encoder;

    private string[] Pieces(string text) => Encoder.TokenIds(text).Select(id => Vocabulary.Value[id]).ToArray();

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

    [SkippableFact]
    public void KagglePromptsEncodedOneAtATimeMatchTheReferenceToo()
    {
        Skip.IfNot(SharedData.Available, SharedData.SkipReason);
        foreach (var (id, prompt, reference) in GoldenEmbeddings.Load())
            Assert.True(GoldenEmbeddings.Cosine(Encoder.Encode(prompt), reference) >= 0.9999, id);
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void BatchedEncodingKeepsTheInputOrderAndMatchesSingleEncoding()
    {
        string[] prompts =
        [
            "a cat",
            "portrait of an old sailor with a pipe, oil painting by rembrandt, dramatic lighting, highly detailed",
            "red cube",
            "a castle on a hill at sunset, matte painting, trending on artstation, 4k",
            "dog",
            "cyberpunk city street at night, neon signs reflected in puddles, rain, cinematic, unreal engine 5, octane render, 8k",
            "blue sphere on a table",
            "an astronaut riding a horse",
            "watercolor of a fox",
            "a bowl of ramen",
        ];
        using var smallBatches = SentenceEncoder.Load(null, batchSize: 3);
        var batched = smallBatches.Encode(prompts);
        Assert.Equal(prompts.Length, batched.Length);
        for (int i = 0; i < prompts.Length; i++)
        {
            var single = Encoder.Encode(prompts[i]);
            Assert.Equal(SentenceEncoder.Dimension, batched[i].Length);
            Assert.Equal(1.0, GoldenEmbeddings.Norm(batched[i]), 5);
            Assert.True(GoldenEmbeddings.Cosine(batched[i], single) > 0.99999, $"prompt {i}: batched and single encodings differ");
            // Every other prompt is clearly farther away, so a swapped row would be caught.
            for (int j = 0; j < prompts.Length; j++)
                if (j != i) Assert.True(GoldenEmbeddings.Cosine(batched[i], Encoder.Encode(prompts[j])) < 0.99);
        }
    }

    [Fact]
    public void LongPromptIsTruncatedAt256WordPieces()
    {
        string[] words = ["red", "blue", "cat", "dog", "house", "tree", "sky", "river", "stone", "light"]; // one word piece each
        Assert.All(words, w => Assert.Equal(["[CLS]", w, "[SEP]"], Pieces(w)));
        var many = Enumerable.Range(0, 400).Select(i => words[i * 7 % words.Length]).ToArray();
        string longPrompt = string.Join(' ', many);

        var ids = Encoder.TokenIds(longPrompt);
        Assert.Equal(SentenceEncoder.MaxWordPieces, ids.Length);
        Assert.Equal("[CLS]", Vocabulary.Value[ids[0]]);
        Assert.Equal("[SEP]", Vocabulary.Value[ids[^1]]);

        var truncated = Encoder.Encode(longPrompt);
        var first254 = Encoder.Encode(string.Join(' ', many.Take(SentenceEncoder.MaxWordPieces - 2)));
        var first253 = Encoder.Encode(string.Join(' ', many.Take(SentenceEncoder.MaxWordPieces - 3)));
        Assert.Equal(1.0, GoldenEmbeddings.Norm(truncated), 5);
        Assert.Equal(first254, truncated);
        Assert.NotEqual(first253, truncated);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("\t\n")]
    public void EmptyOrWhitespaceTextIsRejectedNamingItsIndex(string empty)
    {
        var ex = Assert.Throws<ReverseSdInputException>(() => Encoder.Encode(["a cat", "a dog", empty]));
        Assert.Contains("index 2", ex.Message);
    }

    [Fact]
    public void PunctuationLikeSymbolsSplitIntoTheirOwnWordPieces()
    {
        // BERT's basic tokenizer treats ASCII _ | + as punctuation (the package's own tokenizer got these wrong).
        Assert.Equal(["[CLS]", "x", "_", "y", "|", "z", "+", "1", "[SEP]"], Pieces("x_y|z+1"));
    }

    [Theory]
    [InlineData("a b c d e f g")]
    [InlineData("4k 8k uhd 1990s 35mm f/1.8")]
    [InlineData("studio_ghibli | greg rutkowski + alphonse mucha")]
    [InlineData("R2-D2 and C-3PO, 3 robots, 1 dog")]
    [InlineData("Café Naïve Über Señor")]
    public void DigitsSingleLettersAndSymbolsNeverBecomeUnknown(string prompt)
    {
        var pieces = Pieces(prompt);
        Assert.DoesNotContain("[UNK]", pieces);
        // The word pieces spell the lower-cased, accent-stripped text, minus spaces.
        string spelled = string.Concat(pieces[1..^1].Select(p => p.StartsWith("##", StringComparison.Ordinal) ? p[2..] : p));
        string expected = StripAccents(prompt.ToLowerInvariant()).Replace(" ", "");
        Assert.Equal(expected, spelled);
    }

    [Fact]
    public void AccentsAndCaseDoNotChangeTheEmbedding()
    {
        Assert.Equal(Encoder.TokenIds("a cafe in the old town"), Encoder.TokenIds("A CAFÉ in the Old Town"));
        Assert.Equal(Encoder.Encode("a cafe in the old town"), Encoder.Encode("A CAFÉ in the Old Town"));
    }

    [Fact]
    public void EmojiBecomesOneUnknownPieceWithoutSwallowingItsNeighbours()
    {
        // As Hugging Face's BERT tokenizer: an emoji is neither punctuation nor in the vocabulary, so its word is [UNK].
        Assert.Equal(["[CLS]", "a", "cat", "[UNK]", "on", "fire", "[SEP]"], Pieces("a cat 🔥 on fire"));
        Assert.Equal(1.0, GoldenEmbeddings.Norm(Encoder.Encode("🔥🔥🔥")), 5);
    }

    [Fact]
    public void ConcurrentEncodeCallsGiveTheSameVectorsAsSequentialOnes()
    {
        var prompts = Enumerable.Range(0, 24).Select(i => $"a {i} story house with {i % 5} red doors, photo number {i}").ToArray();
        var sequential = Encoder.Encode(prompts);
        var parallel = new float[prompts.Length][];
        Parallel.For(0, prompts.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => parallel[i] = Encoder.Encode(prompts[i]));
        for (int i = 0; i < prompts.Length; i++)
            Assert.True(GoldenEmbeddings.Cosine(sequential[i], parallel[i]) > 0.99999, $"prompt {i}");
    }

    [Fact]
    public void DisposeTwiceIsHarmlessAndEncodingAfterDisposeFails()
    {
        var encoder = SentenceEncoder.Load();
        encoder.Dispose();
        encoder.Dispose();
        Assert.Throws<ObjectDisposedException>(() => encoder.Encode("a cat"));
    }

    [SkippableFact]
    public void RequestingAGpuInACpuBuildIsAClearError()
    {
#if REVERSESD_CUDA
        Skip.If(true, "CUDA build");
#else
        var ex = Assert.Throws<ReverseSdInputException>(() => SentenceEncoder.Load(gpuDeviceId: 0));
        Assert.Contains("ReverseSdOnnxRuntime=cuda", ex.Message);
#endif
    }

    private static string StripAccents(string s) =>
        new(s.Normalize(System.Text.NormalizationForm.FormD)
            .Where(c => System.Globalization.CharUnicodeInfo.GetUnicodeCategory(c) != System.Globalization.UnicodeCategory.NonSpacingMark).ToArray());
}
