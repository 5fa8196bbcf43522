using ReverseSD.MLNet.Data;

namespace ReverseSD.MLNet.Tests.Data;

public sealed class DiffusionDbPromptsStreamTests
{
    [Theory]
    [InlineData(null)]
    [InlineData(2500)]
    public void StreamedParquetGivesTheSamePromptsCsvAndCountsAsTheWholeReader(int? maxPairs)
    {
        using var tmp = new TempDirectory();
        Directory.CreateDirectory(tmp.File("source"));
        string parquet = tmp.File(Path.Combine("source", "metadata.parquet"));
        DiffusionDbMetadataSample.Write(parquet, rows: 6000, rowGroupSize: 700, seed: 4);   // 9 row groups, repeated names
        var options = new DiffusionDbPrepareOptions { PromptsOnly = true, Seed = 2, MaxPairs = maxPairs, Split = new SplitFractions(0.8, 0.1, 0.1) };

        var streamed = DiffusionDbDataset.Prepare([parquet], tmp.File("streamed"), options);        // a parquet file: streamed
        var whole = DiffusionDbDataset.Prepare([tmp.File("source")], tmp.File("whole"), options);   // a folder: the reader

        Assert.Equal(whole.Read, streamed.Read);
        Assert.Equal(whole.Filters, streamed.Filters);
        Assert.Equal((whole.Train, whole.Validation, whole.Test, whole.MissingImages), (streamed.Train, streamed.Validation, streamed.Test, streamed.MissingImages));
        Assert.Equal(File.ReadAllBytes(whole.PromptsFile!), File.ReadAllBytes(streamed.PromptsFile!));
        Assert.True(streamed.Filters.RemovedNearDuplicate > 0 && streamed.Filters.RemovedNoWordOrNull > 0 && streamed.Filters.RemovedNonEnglish > 0);
        Assert.Equal(maxPairs ?? 6000 - 6000 / 500, streamed.Read.Pairs);   // every 500th name repeats the one before
        Assert.True(streamed.Validation > 0 && streamed.Test > 0);
    }

    [Fact]
    public void OnlyParquetWithoutPromptsOnlyIsRefusedBeforeReadingWithTheFix()
    {
        using var tmp = new TempDirectory();
        string parquet = tmp.File("metadata.parquet");
        DiffusionDbMetadataSample.Write(parquet, rows: 100, rowGroupSize: 50, seed: 1);
        var error = Assert.Throws<ReverseSdInputException>(() => DiffusionDbDataset.Prepare([parquet], tmp.File("out"), new DiffusionDbPrepareOptions()));
        Assert.Contains("metadata only", error.Message);
        Assert.Contains("--prompts-only", error.Message);
        Assert.False(Directory.Exists(tmp.File("out")));
    }
}
