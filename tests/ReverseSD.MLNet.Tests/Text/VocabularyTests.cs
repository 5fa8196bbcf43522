using System.Text.Json;
using ReverseSD.MLNet.Text;

namespace ReverseSD.MLNet.Tests.Text;

public sealed class VocabularyTests
{
    [Fact]
    public void TokenizeLowerCasesAndDropsPunctuationDigitsAndSingleLetters()
    {
        Assert.Equal(
            ["portrait", "of", "cat", "by", "greg", "rutkowski", "hyper", "realistic", "artist", "trending", "on", "artstation"],
            Vocabulary.Tokenize("Portrait of a CAT, by Greg Rutkowski; hyper-realistic artist's 8k 4K trending on ArtStation!").ToArray());
    }

    [Fact]
    public void ContentWordsDropStopWordsAndAdverbOnlyWordsButKeepUnknownNames()
    {
        var words = Vocabulary.ContentWords("A very beautifully painted portrait of the cat, highly detailed, by Greg Rutkowski and Alphonse Mucha").ToArray();

        Assert.Equal(["painted", "portrait", "cat", "detailed", "greg", "rutkowski", "alphonse", "mucha"], words);
    }

    [Fact]
    public void BuildKeepsTheMostFrequentWordsWithOrdinalTieBreaking()
    {
        var vocabulary = Vocabulary.Build(["red cat", "blue cat", "green dog", "cat and the dog", "zebra apple"], size: 4);

        Assert.Equal(["cat", "dog", "apple", "blue"], vocabulary.Words);
        Assert.Equal([3L, 2L, 1L, 1L], vocabulary.Counts);
        Assert.Equal(1, vocabulary.IndexOf("dog"));
        Assert.Equal(-1, vocabulary.IndexOf("zebra"));
    }

    [Fact]
    public void BuildIsDeterministicWhateverThePromptOrder()
    {
        string[] prompts = ["a b c dog", "cat dog", "fish cat", "bird", "tree bird", "cat"];
        var a = Vocabulary.Build(prompts, 3);
        var b = Vocabulary.Build(prompts.Reverse(), 3);

        Assert.Equal(a.Words, b.Words);
    }

    [Fact]
    public void JsonRoundTripKeepsWordsAndCounts()
    {
        var vocabulary = Vocabulary.Build(["red cat", "blue cat", "green dog"], 10);
        var copy = Vocabulary.FromJson(vocabulary.ToJson());

        Assert.Equal(vocabulary.Words, copy.Words);
        Assert.Equal(vocabulary.Counts, copy.Counts);
        Assert.Throws<ReverseSdInputException>(() => Vocabulary.FromJson("""{"Format":99,"Words":["cat"]}"""));
        Assert.Throws<ReverseSdInputException>(() => Vocabulary.FromWords(["cat", "Dog"]));
    }

    [Fact]
    public void EmptyVocabularyIsReportedAsBadInput()
    {
        Assert.Throws<ReverseSdInputException>(() => Vocabulary.Build(["the of and", "4k 8k"]));
    }

    [SkippableFact]
    public void VocabularyOfRealDiffusionDbPromptsHoldsContentWordsOnly()
    {
        Skip.IfNot(SharedData.Available, SharedData.SkipReason);
        var prompts = new List<string>();
        foreach (string file in Directory.GetFiles(SharedData.PathOf("diffusiondb-format"), "part-*.json", SearchOption.AllDirectories))
        {
            using var document = JsonDocument.Parse(File.ReadAllText(file));
            foreach (var entry in document.RootElement.EnumerateObject())
                prompts.Add(entry.Value.GetProperty("p").GetString()!);
        }
        Assert.Equal(10_000, prompts.Count);

        var vocabulary = Vocabulary.Build(prompts.Distinct(StringComparer.Ordinal));

        Assert.Equal(1000, vocabulary.Count);
        var top50 = vocabulary.Words.Take(50).ToList();
        foreach (string expected in new[] { "portrait", "detailed", "art", "artstation", "trending" })
            Assert.Contains(expected, top50);
        foreach (string absent in new[] { "the", "of", "very", "and", "by", "with", "highly", "in", "a" })
            Assert.Equal(-1, vocabulary.IndexOf(absent));
        Assert.All(vocabulary.Words, w => Assert.Matches("^[a-z]{2,}$", w));
        Assert.True(vocabulary.Counts.Zip(vocabulary.Counts.Skip(1)).All(p => p.First >= p.Second));
    }
}
