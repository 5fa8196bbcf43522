using ReverseSD.Cli;
using ReverseSD.MLNet.Composer;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Retrieval;
using ReverseSD.MLNet.Tests.Text;
using Spectre.Console.Cli.Testing;

namespace ReverseSD.MLNet.Tests.Composer;

public sealed class PromptComposerTests(SentenceEncoderFixture fixture) : IClassFixture<SentenceEncoderFixture>
{
    private static readonly string[] BankPrompts =
    [
        "a red fox in a snowy forest, oil painting, highly detailed",
        "a castle on a hill at sunset, digital art, trending on artstation",
        "portrait of an old wizard, by greg rutkowski, highly detailed",
        "a robot in a cyberpunk city at night, neon lights, 4k",
        "a lighthouse by the sea, watercolor, soft light",
        "a dragon flying over mountains, concept art, trending on artstation",
        "a cat sleeping on a sofa, photograph, 35mm",
        "an astronaut on the moon, digital art, highly detailed",
    ];

    private PromptBank WriteBank(TempDirectory dir)
    {
        var vectors = fixture.Encoder.Encode(BankPrompts);
        PromptBankBuilder.Write(dir.File("b.rsdbank"), BankPrompts, vectors, new PromptBankInfo
        {
            Encoder = PromptBank.EncoderIdentity, EncoderSha256 = PromptBank.EncoderSha256, FrequentPhrases = PromptBankBuilder.FrequentPhrases(BankPrompts, 40),
        });
        return PromptBank.Open(dir.File("b.rsdbank"));
    }

    [Fact]
    public void ComposedPromptsScoreTheirOwnEmbeddingAndNeverFallBelowTheNearestPrompt()
    {
        using var dir = new TempDirectory();
        using var bank = WriteBank(dir);
        // Targets that no bank prompt is: phrases of several bank prompts together.
        string[] truths = ["a red fox on the moon, digital art, trending on artstation", "a dragon in a cyberpunk city at night, highly detailed"];
        var targets = fixture.Encoder.Encode(truths);
        var composer = new PromptComposer(bank, new PromptComposerOptions { Neighbors = 5, CandidatesPerStep = 16, Steps = 3 }, fixture.Encoder, ownsEncoder: false);
        var top1 = composer.Compose(targets, CompositionMethod.None);
        foreach (var method in new[] { CompositionMethod.Greedy, CompositionMethod.Beam })
        {
            var composed = composer.Compose(targets, method);
            for (int i = 0; i < truths.Length; i++)
            {
                Assert.True(composed[i].Score >= top1[i].Score, $"{method}: {composed[i].Score} < top-1 {top1[i].Score}");
                double real = PromptEmbeddingEvaluator.Cosine(fixture.Encoder.Encode(composed[i].Prompt), targets[i]);
                Assert.Equal(real, composed[i].Score, 4);
                Assert.Equal(5, composed[i].NearestPrompts.Count);
            }
            Assert.True(composed.Zip(top1).Any(p => p.First.Score > p.Second.Score + 0.01), $"{method} improved no target");
            Assert.Equal(composed.Select(c => c.Prompt), composer.Compose(targets, method).Select(c => c.Prompt)); // deterministic
        }
    }

    [Fact]
    public void WithoutABankTheGivenNearestPromptsAreComposed()
    {
        var target = fixture.Encoder.Encode("a red fox on the moon, digital art");
        var nearest = new[] { new PromptMatch(-1, "an astronaut on the moon, digital art", 0.5f), new PromptMatch(-1, "a red fox in a snowy forest, oil painting", 0.4f) };
        var composer = new PromptComposer(null, new PromptComposerOptions { Steps = 3, CandidatesPerStep = 16 }, fixture.Encoder, ownsEncoder: false);
        var composed = composer.Compose([target], CompositionMethod.Beam, null, [nearest]);
        double start = PromptEmbeddingEvaluator.Cosine(fixture.Encoder.Encode(nearest[0].Prompt), target);
        Assert.True(composed[0].Score > start, $"{composed[0].Prompt}: {composed[0].Score} <= {start}");
        Assert.Throws<InvalidOperationException>(() => composer.Compose([target], CompositionMethod.Beam));
    }

    [Fact]
    public void BlurredTargetsHaveExactlyTheRequestedCosine()
    {
        var targets = PromptBankBenchmark.RandomUnitVectors(20, 384, seed: 2);
        var blurred = TextInversionExperiment.Blur(targets, 0.7, seed: 3);
        for (int i = 0; i < targets.Length; i++)
        {
            Assert.Equal(0.7, PromptEmbeddingEvaluator.Cosine(targets[i], blurred[i]), 4);
            Assert.Equal(1.0, Math.Sqrt(blurred[i].Sum(x => (double)x * x)), 4);
        }
    }

    [Fact]
    public void TargetFilesReadJsonLinesArraysAndCsvAndRefuseAnotherWidth()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("t.jsonl"), "{\"prompt\":\"a\",\"embedding\":[1,0,0]}\n{\"image\":\"x.png\",\"embedding\":[0,1,0]}\n");
        var jsonl = TargetEmbeddingsFile.Read(dir.File("t.jsonl"), 3);
        Assert.Equal(["a", "x.png"], jsonl.Select(t => t.Id));
        Assert.Equal([0f, 1f, 0f], jsonl[1].Embedding);
        File.WriteAllText(dir.File("t.json"), "[{\"image\":\"y.png\",\"prompt\":\"p\",\"embedding\":[0,0,1]}]");
        Assert.Equal("y.png", TargetEmbeddingsFile.Read(dir.File("t.json"), 3)[0].Id);
        File.WriteAllText(dir.File("t.csv"), "prompt,e0,e1,e2\nhello,0.5,0.5,0\n");
        Assert.Equal([0.5f, 0.5f, 0f], TargetEmbeddingsFile.Read(dir.File("t.csv"), 3)[0].Embedding);
        Assert.Contains("3-d", Assert.Throws<ReverseSdInputException>(() => TargetEmbeddingsFile.Read(dir.File("t.csv"), 384)).Message);
        Assert.Throws<ReverseSdInputException>(() => TargetEmbeddingsFile.Read(dir.File("missing.jsonl"), 3));
    }

    [Fact]
    public void ComposeCommandWritesPromptsAndRefusesBadInputWithExitCode2()
    {
        using var dir = new TempDirectory();
        using (WriteBank(dir)) { }
        var targets = fixture.Encoder.Encode(["a red fox on the moon, digital art"]);
        File.WriteAllText(dir.File("t.jsonl"), "{\"id\":\"q1\",\"embedding\":[" + string.Join(",", targets[0].Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture))) + "]}\n");
        File.WriteAllText(dir.File("narrow.jsonl"), "{\"id\":\"q1\",\"embedding\":[1,2,3]}\n");

        Assert.Equal(0, Run("compose", "--bank", dir.File("b.rsdbank"), "--embeddings", dir.File("t.jsonl"), "--out", dir.File("out.jsonl"), "--steps", "2", "--candidates", "8").ExitCode);
        using (var json = System.Text.Json.JsonDocument.Parse(File.ReadAllLines(dir.File("out.jsonl")).Single()))
        {
            Assert.Equal("q1", json.RootElement.GetProperty("id").GetString());
            Assert.False(string.IsNullOrWhiteSpace(json.RootElement.GetProperty("prompt").GetString()));
            Assert.Equal(8, json.RootElement.GetProperty("nearest_prompts").GetArrayLength());
        }
        Assert.Equal(2, Run("compose", "--bank", dir.File("b.rsdbank"), "--embeddings", dir.File("narrow.jsonl"), "--out", dir.File("bad.jsonl")).ExitCode);
        Assert.Equal(2, Run("compose", "--bank", dir.File("none.rsdbank"), "--embeddings", dir.File("t.jsonl"), "--out", dir.File("bad.jsonl")).ExitCode);
        Assert.False(File.Exists(dir.File("bad.jsonl")));
    }

    [Fact]
    public void BankCommandsBuildAndDescribeABankAndRefuseAMissingInput()
    {
        using var dir = new TempDirectory();
        File.WriteAllLines(dir.File("p.txt"), BankPrompts);
        Assert.Equal(0, Run("bank", "build", "--input", dir.File("p.txt"), "--out", dir.File("b.rsdbank")).ExitCode);
        var info = Run("bank", "info", dir.File("b.rsdbank"));
        Assert.Equal(0, info.ExitCode);
        Assert.Contains($"prompts: {BankPrompts.Length}", info.Output);
        Assert.Contains("dimensions: 384", info.Output);
        Assert.Equal(2, Run("bank", "build", "--input", dir.File("missing.txt"), "--out", dir.File("c.rsdbank")).ExitCode);
        Assert.Equal(2, Run("bank", "info", dir.File("c.rsdbank")).ExitCode);
        Assert.False(File.Exists(dir.File("c.rsdbank")));
    }

    [Fact]
    public void BankInfoDescribesABankFromAnotherEncoderWithAWarningThatOtherCommandsRefuseIt()
    {
        using var dir = new TempDirectory();
        var vectors = PromptBankBenchmark.RandomUnitVectors(2, 512, seed: 1);
        PromptBankBuilder.Write(dir.File("clip.rsdbank"), ["a", "b"], vectors, new PromptBankInfo { Encoder = "clip-vit-b32" });

        var info = Run("bank", "info", dir.File("clip.rsdbank"));

        Assert.Equal(0, info.ExitCode);
        Assert.Contains("warning: this bank cannot be searched by this reversesd", info.Output);
        Assert.Contains("encoder: clip-vit-b32", info.Output);
        Assert.Contains("prompts: 2", info.Output);
        Assert.Contains("dimensions: 512", info.Output);
        Assert.Contains("clip-vit-b32", Assert.Throws<ReverseSdInputException>(() => PromptBank.Open(dir.File("clip.rsdbank"))).Message);
    }

    [Fact]
    public void AComposerEmbedsARepeatedCandidateTextOnlyOnce()
    {
        using var dir = new TempDirectory();
        using var bank = WriteBank(dir);
        var target = fixture.Encoder.Encode(["a red fox on the moon, digital art, trending on artstation"]);
        using var composer = new PromptComposer(bank, new PromptComposerOptions { Neighbors = 5, CandidatesPerStep = 16, Steps = 3 }, fixture.Encoder, ownsEncoder: false);
        foreach (var method in new[] { CompositionMethod.Greedy, CompositionMethod.Beam })
        {
            var first = composer.Compose(target, method)[0];
            var again = composer.Compose(target, method)[0];
            Assert.True(first.TextsEmbedded > 0);
            Assert.Equal(0, again.TextsEmbedded); // every candidate of the same search is in the cache
            Assert.Equal(first.Prompt, again.Prompt);
            Assert.Equal(first.Score, again.Score);
        }
    }

    [Fact]
    public void AComposerWhoseTextCacheFillsUpStartsItOverAndComposesAsAnUnboundedOne()
    {
        using var dir = new TempDirectory();
        using var bank = WriteBank(dir);
        var targets = fixture.Encoder.Encode(["a red fox on the moon, digital art, trending on artstation", "a dragon in a cyberpunk city at night, highly detailed",
            "a cat on a hill at sunset, watercolor"]);
        var options = new PromptComposerOptions { Neighbors = 5, CandidatesPerStep = 16, Steps = 3 };
        using var unbounded = new PromptComposer(bank, options, fixture.Encoder, ownsEncoder: false);
        var expected = new[] { CompositionMethod.Greedy, CompositionMethod.Beam }.ToDictionary(m => m, m => unbounded.Compose(targets, m).Select(c => c.Prompt).ToList());
        // Small capacities: the cache starts over in the middle of calls that also reuse texts it held (shared phrases, repeated targets).
        foreach (int capacity in new[] { 5, 40, 80, 150 })
        {
            using var small = new PromptComposer(bank, options, fixture.Encoder, ownsEncoder: false) { TextCacheCapacity = capacity };
            for (int round = 0; round < 2; round++)
                foreach (var method in new[] { CompositionMethod.Beam, CompositionMethod.Greedy })
                    Assert.Equal(expected[method], small.Compose(targets, method).Select(c => c.Prompt));
        }
    }

    [Fact]
    public void TextInversionWritesOneSampleRowPerPromptSettingAndMethodAndItsTablesAgreeWithThem()
    {
        using var dir = new TempDirectory();
        string[] subjects = ["a red fox", "a castle", "an old wizard", "a robot", "a lighthouse", "a dragon", "a cat", "an astronaut", "a ship", "a forest"];
        string[] places = ["in a snowy forest", "on a hill", "at night", "by the sea", "on the moon"];
        string[] styles = ["oil painting", "digital art", "watercolor", "concept art"];
        var prompts = subjects.SelectMany((s, i) => places.Select((p, j) => $"{s} {p}, {styles[(i + j) % styles.Length]}, highly detailed")).ToList();
        File.WriteAllLines(dir.File("p.txt"), prompts);
        var options = new PromptComposerOptions { Neighbors = 4, CandidatesPerStep = 8, Steps = 2, FrequentPhrases = 5 };
        var result = TextInversionExperiment.Run([dir.File("p.txt")], 3, 0.7, 1, options, dir.Path, null, CancellationToken.None,
            paperFilters: false, samplesPath: dir.File("samples.csv"));
        var (header, rows) = MLNet.Data.CsvTable.Read(dir.File("samples.csv"));
        Assert.Equal(3 * 2 * 3, rows.Count); // prompts × (exact, blurred) × (top-1, greedy, beam)
        int setting = header.ToList().IndexOf("setting"), method = header.ToList().IndexOf("method"), cosine = header.ToList().IndexOf("cosine");
        foreach (var (name, table) in new[] { ("exact", result.Exact), ("blurred", result.Noisy) })
        {
            var beam = rows.Where(r => r[setting] == name && r[method] == "beam composer")
                .Select(r => double.Parse(r[cosine], System.Globalization.CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(beam.Average(), table.Single(r => r.Method == "beam composer").Metrics.MeanCosine, 10);
        }
        // Exact targets: top-1 retrieval is the bank oracle.
        Assert.Equal(result.Exact[^1].Metrics.MeanCosine, result.Exact[0].Metrics.MeanCosine, 4);
        Assert.All(result.Exact.Take(3), r => Assert.True(r.MillisecondsPerPrompt >= 0 && r.CpuMillisecondsPerPrompt >= 0));
    }

    private static CommandAppResult Run(params string[] args) => CliRunner.Run(args);
}
