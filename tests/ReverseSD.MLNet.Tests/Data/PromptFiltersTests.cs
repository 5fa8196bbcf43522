using System.Text.Json;
using ReverseSD.MLNet.Data;

namespace ReverseSD.MLNet.Tests.Data;

public sealed class PromptFiltersTests
{
    [Theory]
    [InlineData("  a cat \t\n", "a cat")]
    [InlineData("a cat", "a cat")]
    [InlineData("\u00A0a cat\u2003", "a cat")]
    public void TrimRemovesLeadingAndTrailingWhiteSpaceOnly(string input, string expected) =>
        Assert.Equal(expected, PromptFilters.Trim(input));

    [Theory]
    [InlineData("a cat", true)]
    [InlineData("4 k", true)]
    [InlineData("", false)]
    [InlineData(" , . !", false)]
    [InlineData("Null", false)]
    [InlineData("a NULL pointer", false)]
    [InlineData("portrait, null", false)]
    [InlineData("value NaN here", false)]
    [InlineData("NAN", false)]
    [InlineData("nan", false)]
    [InlineData("photo by nan goldin", true)]
    [InlineData("Nan the cat", true)]
    [InlineData("nullify the banana", true)]
    [InlineData("日本", true)] // a word; filter (iii) judges the script
    public void NoWordOrNullRuleUsesWholeWords(string prompt, bool keep) =>
        Assert.Equal(keep, PromptFilters.HasWordsAndNoNullOrNaN(prompt));

    [Theory]
    [InlineData("a cat, 4 k, (masterpiece)!! [art] {x} <y> ~z_ #1 @2 $3 %4 ^5 &6 *7 +8 =9 |10 /11 \\12 ;13 :14 'q' \"r\" ?", true)]
    [InlineData("it\u2019s \u201Cquoted\u201D \u2013 dash \u2014 more\u2026", true)]
    [InlineData("café", false)]
    [InlineData("marcus m\u00F8ller", false)]
    [InlineData("a cat 🐱", false)]
    [InlineData("smooth ， sharp", false)]
    [InlineData("猫", false)]
    public void EnglishRuleKeepsPrintableAsciiAndTypographicMarks(string prompt, bool keep) =>
        Assert.Equal(keep, PromptFilters.HasOnlyEnglishCharacters(prompt));

    [Fact]
    public void NearDuplicateRuleDropsSharedFiftyCharacterPrefixOrSuffix()
    {
        string head = new('a', 50), tail = new('z', 50);
        var f = new NearDuplicateFilter();
        Assert.True(f.TryKeep(head + " first"));
        Assert.False(f.TryKeep(head + " second"));           // same 50-char start
        Assert.True(f.TryKeep("x" + head[1..] + " third"));   // 49 shared characters are not enough
        Assert.True(f.TryKeep("one " + tail));
        Assert.False(f.TryKeep("two " + tail));               // same 50-char end
        Assert.True(f.TryKeep(head + " first"));              // the same prompt again stays
        Assert.False(f.TryKeep(head + " second"));            // a dropped prompt stays dropped
        Assert.True(f.TryKeep("short prompt"));
        Assert.True(f.TryKeep("short prompt"));
        Assert.True(f.TryKeep("short prompt!"));              // under 50 characters: never a near duplicate
        Assert.Equal(5, f.KeptCount);
    }

    [Fact]
    public void NearDuplicateRuleIsCaseSensitive()
    {
        string head = new('a', 50);
        var f = new NearDuplicateFilter();
        Assert.True(f.TryKeep(head + " one"));
        Assert.True(f.TryKeep(head.ToUpperInvariant() + " two"));
    }

    [Fact]
    public void ApplyRunsFiltersInOrderAndCountsEach()
    {
        string longPrompt = "a very long prompt about a lighthouse on a cliff at dusk, dramatic sky";
        string[] prompts =
        [
            " a cat ",                        // trimmed, kept
            "a cat",                          // same prompt after trimming: kept
            "",                               // (ii)
            "🐣 ",                            // (ii) (no word), not (iii)
            "null",                           // (ii)
            "café au lait",                   // (iii)
            longPrompt,                       // kept
            longPrompt + ", 4k",              // (iv) same 50-char start
            longPrompt,                       // same prompt as a kept one: kept
        ];
        var result = PromptFilters.Apply(prompts);
        Assert.Equal(new PromptFilterSummary(9, 2, 3, 1, 1, 4, 2), result.Summary);
        Assert.Equal(["a cat", "a cat", longPrompt, longPrompt], result.Kept);
    }

    [Fact]
    public void ApplyKeepsItemsAndReplacesOnlyThePrompt()
    {
        var items = new[] { (Id: 1, Prompt: " x y "), (Id: 2, Prompt: "z") };
        var result = PromptFilters.Apply(items, i => i.Prompt, (i, p) => i with { Prompt = p });
        Assert.Equal([(1, "x y"), (2, "z")], result.Kept);
    }

    [SkippableFact]
    public void RealPartFilesLeaveNoKeptPromptsSharingFiftyCharacters()
    {
        Skip.IfNot(SharedData.Available, SharedData.SkipReason);
        var prompts = new List<string>();
        foreach (var file in Directory.GetFiles(SharedData.PathOf("diffusiondb-format"), "*.json", SearchOption.AllDirectories).Order())
            using (var doc = JsonDocument.Parse(File.ReadAllText(file)))
                prompts.AddRange(doc.RootElement.EnumerateObject().Select(e => e.Value.GetProperty("p").GetString()!));
        Assert.Equal(10_000, prompts.Count);
        var result = PromptFilters.Apply(prompts);
        var s = result.Summary;
        Assert.Equal(s.Input, s.RemovedNoWordOrNull + s.RemovedNonEnglish + s.RemovedNearDuplicate + s.Kept);
        Assert.True(s.RemovedNearDuplicate > 0 && s.RemovedNonEnglish > 0, "the real files hold near duplicates and emoji prompts");
        // Independent check of rule (iv) by brute force over the distinct kept prompts.
        var kept = result.Kept.Distinct().ToList();
        Assert.Equal(s.KeptUniquePrompts, kept.Count);
        for (int i = 0; i < kept.Count; i++)
            for (int j = i + 1; j < kept.Count; j++)
            {
                if (kept[i].Length < 50 || kept[j].Length < 50) continue;
                Assert.False(kept[i].AsSpan(0, 50).SequenceEqual(kept[j].AsSpan(0, 50)), $"shared start: {kept[i]} | {kept[j]}");
                Assert.False(kept[i].AsSpan(kept[i].Length - 50).SequenceEqual(kept[j].AsSpan(kept[j].Length - 50)), $"shared end: {kept[i]} | {kept[j]}");
            }
        Assert.All(result.Kept, p => Assert.True(PromptFilters.HasOnlyEnglishCharacters(p) && p == p.Trim()));
        // Every dropped near duplicate shares 50 characters with some kept prompt.
        var starts = kept.Where(p => p.Length >= 50).Select(p => p[..50]).ToHashSet();
        var ends = kept.Where(p => p.Length >= 50).Select(p => p[^50..]).ToHashSet();
        var keptSet = kept.ToHashSet();
        foreach (var p in prompts.Select(p => p.Trim()).Where(p => !keptSet.Contains(p) && PromptFilters.HasWordsAndNoNullOrNaN(p) && PromptFilters.HasOnlyEnglishCharacters(p)))
            Assert.True(starts.Contains(p[..50]) || ends.Contains(p[^50..]), p);
    }
}
