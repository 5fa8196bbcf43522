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

    private static CommandAppResult Run(params string[] args) => CliRunner.Run(args);
}
