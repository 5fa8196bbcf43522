using System.Buffers.Binary;
using System.Text.Json;
using ReverseSD.MLNet.Retrieval;
using ReverseSD.MLNet.Tests.Text;

namespace ReverseSD.MLNet.Tests.Retrieval;

public sealed class PromptBankTests(SentenceEncoderFixture fixture) : IClassFixture<SentenceEncoderFixture>
{
    private static PromptBankInfo Info => new() { Encoder = PromptBank.EncoderIdentity, EncoderSha256 = PromptBank.EncoderSha256, Sources = ["test"], Filters = "none" };

    [Fact]
    public void BatchedSearchOverChunksGivesThePlainLoopsTopK()
    {
        using var dir = new TempDirectory();
        PromptBankBenchmark.WriteRandomBank(dir.File("b.rsdbank"), 5003, 384, seed: 3);
        using var bank = PromptBank.Open(dir.File("b.rsdbank"));
        var queries = PromptBankBenchmark.RandomUnitVectors(7, 384, seed: 4);
        var plain = PromptBankBenchmark.PlainLoopSearch(bank, queries, 12);
        foreach (int chunkRows in new[] { 1000, 5003, 32768 })
        {
            var batched = bank.SearchIndices(queries, 12, chunkRows);
            for (int q = 0; q < queries.Length; q++)
            {
                Assert.Equal(plain[q].Select(h => h.Index), batched[q].Select(h => h.Index));
                for (int j = 0; j < 12; j++) Assert.Equal(plain[q][j].Score, batched[q][j].Score, 1e-5f);
            }
        }
    }

    [Fact]
    public void WrittenBankReadsBackPromptsUnitVectorsAndHeader()
    {
        using var dir = new TempDirectory();
        string[] prompts = ["a red fox, oil painting", "Café à Paris ✨", "x"];
        var vectors = PromptBankBenchmark.RandomUnitVectors(3, 384, seed: 1).Select(v => v.Select(x => x * 3).ToArray()).ToList();
        PromptBankBuilder.Write(dir.File("b.rsdbank"), prompts, vectors, Info);
        using var bank = PromptBank.Open(dir.File("b.rsdbank"));
        Assert.Equal(3, bank.Count);
        Assert.Equal(384, bank.Dimension);
        Assert.Equal(prompts, Enumerable.Range(0, 3).Select(i => bank.Prompt(i)));
        Assert.Equal(1.0, Math.Sqrt(bank.Vector(1).Sum(x => (double)x * x)), 5);
        Assert.Equal(["test"], bank.Info.Sources);
        var top = bank.Search([vectors[2]], 5)[0];
        Assert.Equal(3, top.Count); // k capped at the bank size
        Assert.Equal("x", top[0].Prompt);
        Assert.Equal(1f, top[0].Score, 1e-5f);
    }

    [Fact]
    public void MissingForeignOrCorruptBanksAreClearInputErrors()
    {
        using var dir = new TempDirectory();
        Assert.Contains("does not exist", Assert.Throws<ReverseSdInputException>(() => PromptBank.Open(dir.File("none.rsdbank"))).Message);
        File.WriteAllText(dir.File("text.rsdbank"), "just some text that is longer than the sixty-four byte fixed header of a bank");
        Assert.Contains("not a prompt bank", Assert.Throws<ReverseSdInputException>(() => PromptBank.Open(dir.File("text.rsdbank"))).Message);

        var vectors = PromptBankBenchmark.RandomUnitVectors(2, 384, seed: 1);
        PromptBankBuilder.Write(dir.File("other.rsdbank"), ["a", "b"], vectors, new PromptBankInfo { Encoder = "clip-vit-b32" });
        Assert.Contains("clip-vit-b32", Assert.Throws<ReverseSdInputException>(() => PromptBank.Open(dir.File("other.rsdbank"))).Message);

        PromptBankBuilder.Write(dir.File("small.rsdbank"), ["a", "b"], PromptBankBenchmark.RandomUnitVectors(2, 16, seed: 1), Info);
        Assert.Contains("16-d", Assert.Throws<ReverseSdInputException>(() => PromptBank.Open(dir.File("small.rsdbank"))).Message);

        PromptBankBuilder.Write(dir.File("ok.rsdbank"), ["a", "b"], vectors, Info);
        var bytes = File.ReadAllBytes(dir.File("ok.rsdbank"));
        File.WriteAllBytes(dir.File("cut.rsdbank"), bytes[..^3]);
        Assert.Contains("truncated", Assert.Throws<ReverseSdInputException>(() => PromptBank.Open(dir.File("cut.rsdbank"))).Message);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8), 99);
        File.WriteAllBytes(dir.File("v99.rsdbank"), bytes);
        Assert.Contains("version 99", Assert.Throws<ReverseSdInputException>(() => PromptBank.Open(dir.File("v99.rsdbank"))).Message);

        using var bank = PromptBank.Open(dir.File("ok.rsdbank"));
        Assert.Throws<ReverseSdInputException>(() => bank.Search([new float[100]], 1));
    }

    [Fact]
    public void ABankFromAnEncoderModelWithOtherBytesOrWithoutAHashIsRefused()
    {
        using var dir = new TempDirectory();
        var vectors = PromptBankBenchmark.RandomUnitVectors(2, 384, seed: 1);
        Assert.Matches("^[0-9a-f]{64}$", PromptBank.EncoderSha256);
        Assert.Same(PromptBank.EncoderSha256, PromptBank.EncoderSha256); // computed once per process

        // Same encoder name, other weights (a re-exported or fine-tuned model): the hash tells them apart.
        string other = new('0', 64);
        PromptBankBuilder.Write(dir.File("retrained.rsdbank"), ["a", "b"], vectors,
            new PromptBankInfo { Encoder = PromptBank.EncoderIdentity, EncoderSha256 = other });
        var error = Assert.Throws<ReverseSdInputException>(() => PromptBank.Open(dir.File("retrained.rsdbank"))).Message;
        Assert.Contains(other, error);
        Assert.Contains(PromptBank.EncoderSha256, error);
        Assert.Contains("rebuild", error);

        PromptBankBuilder.Write(dir.File("nohash.rsdbank"), ["a", "b"], vectors, new PromptBankInfo { Encoder = PromptBank.EncoderIdentity });
        Assert.Contains("none recorded", Assert.Throws<ReverseSdInputException>(() => PromptBank.Open(dir.File("nohash.rsdbank"))).Message);

        // A version-1 bank (written before the hash existed) is refused by its version, saying why.
        PromptBankBuilder.Write(dir.File("v1.rsdbank"), ["a", "b"], vectors, new PromptBankInfo { Encoder = PromptBank.EncoderIdentity });
        var bytes = File.ReadAllBytes(dir.File("v1.rsdbank"));
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8), 1);
        File.WriteAllBytes(dir.File("v1.rsdbank"), bytes);
        Assert.Contains("SHA-256", Assert.Throws<ReverseSdInputException>(() => PromptBank.Open(dir.File("v1.rsdbank"))).Message);

        PromptBankBuilder.Write(dir.File("ok.rsdbank"), ["a", "b"], vectors, Info);
        using var bank = PromptBank.Open(dir.File("ok.rsdbank"));
        Assert.Equal(PromptBank.EncoderSha256, bank.Info.EncoderSha256);
    }

    [Fact]
    public void BuildReadsEveryInputKindTrimsAndDropsCaseInsensitiveDuplicates()
    {
        using var dir = new TempDirectory();
        File.WriteAllLines(dir.File("a.txt"), ["  a red fox, oil painting ", "", "A RED FOX, OIL PAINTING", "a castle at night, 4k"]);
        File.WriteAllText(dir.File("b.csv"), "id,caption\n1,\"a robot, highly detailed\"\n2,a castle at night\n");
        File.WriteAllText(dir.File("part-000001.json"), JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["x.png"] = new { p = "a dragon, highly detailed", se = 1 },
            ["y.png"] = new { p = "a red fox, oil painting", se = 2 },
        }));
        Directory.CreateDirectory(dir.File("data/train"));
        File.WriteAllText(dir.File("data/train/metadata.csv"), "file_name,prompt\n1.png,\"an owl, highly detailed\"\n");

        var options = new PromptBankBuildOptions { Inputs = [dir.File("a.txt"), dir.File("b.csv"), dir.File("part-000001.json"), dir.File("data")], Column = "caption" };
        var summary = PromptBankBuilder.BuildFrom(dir.File("bank.rsdbank"), PromptSources.Expand(options.Inputs), options, fixture.Encoder.Encode, null, default);

        string[] expected = ["a red fox, oil painting", "a castle at night, 4k", "a robot, highly detailed", "a castle at night", "a dragon, highly detailed", "an owl, highly detailed"];
        Assert.Equal(expected.Length, summary.Count);
        Assert.Equal(2, summary.Duplicates);
        Assert.Equal(1, summary.Filtered); // the empty line
        using var bank = PromptBank.Open(dir.File("bank.rsdbank"));
        Assert.Equal(expected, Enumerable.Range(0, expected.Length).Select(i => bank.Prompt(i)));
        var reference = fixture.Encoder.Encode(expected);
        for (int i = 0; i < expected.Length; i++) Assert.True(GoldenEmbeddings.Cosine(reference[i], bank.Vector(i)) > 0.99999, $"row {i}");
        Assert.Equal("highly detailed", bank.Info.FrequentPhrases[0]);
        Assert.False(Directory.Exists(dir.File("bank.rsdbank.partial")));
    }

    [Fact]
    public void AnInterruptedBuildResumesFromItsLastChunkAndWritesTheSameBytes()
    {
        using var dir = new TempDirectory();
        var prompts = Enumerable.Range(0, 40).Select(i => $"prompt number {i}, {(i % 3 == 0 ? "oil painting" : "digital art")}").ToList();
        File.WriteAllLines(dir.File("p.txt"), prompts);
        var options = new PromptBankBuildOptions { Inputs = [dir.File("p.txt")], ChunkSize = 8 };
        var files = PromptSources.Expand(options.Inputs);

        PromptBankBuilder.BuildFrom(dir.File("whole.rsdbank"), files, options, fixture.Encoder.Encode, null, default);

        int calls = 0;
        using var cancel = new CancellationTokenSource();
        float[][] EncodeThenStop(IReadOnlyList<string> texts, IProgress<ProgressReport>? p, CancellationToken ct)
        {
            if (++calls == 3) cancel.Cancel(); // killed while the third chunk is being embedded
            ct.ThrowIfCancellationRequested();
            return fixture.Encoder.Encode(texts, p, ct);
        }
        Assert.ThrowsAny<OperationCanceledException>(() =>
            PromptBankBuilder.BuildFrom(dir.File("resumed.rsdbank"), files, options, EncodeThenStop, null, cancel.Token));
        Assert.False(File.Exists(dir.File("resumed.rsdbank")));
        Assert.True(Directory.Exists(dir.File("resumed.rsdbank.partial")));

        var summary = PromptBankBuilder.BuildFrom(dir.File("resumed.rsdbank"), files, options, fixture.Encoder.Encode, null, default);
        Assert.Equal(2, summary.ChunksResumed);
        Assert.Equal(File.ReadAllBytes(dir.File("whole.rsdbank")), File.ReadAllBytes(dir.File("resumed.rsdbank")));
    }

    [Fact]
    public void ABuildWithNoPromptLeftFailsAndWritesNothing()
    {
        using var dir = new TempDirectory();
        File.WriteAllLines(dir.File("p.txt"), ["   ", "NaN", "null"]);
        var options = new PromptBankBuildOptions { Inputs = [dir.File("p.txt")], PaperFilters = true };
        var ex = Assert.Throws<ReverseSdInputException>(() =>
            PromptBankBuilder.BuildFrom(dir.File("b.rsdbank"), PromptSources.Expand(options.Inputs), options, fixture.Encoder.Encode, null, default));
        Assert.Contains("No prompt left", ex.Message);
        Assert.Equal([dir.File("p.txt")], Directory.EnumerateFileSystemEntries(dir.Path));
        Assert.Throws<ReverseSdInputException>(() => PromptSources.Expand([dir.File("missing.txt")]));
    }
}
