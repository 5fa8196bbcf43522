using System.Security.Cryptography;
using System.Text.RegularExpressions;
using ReverseSD.MLNet.Data;
using SkiaSharp;

namespace ReverseSD.MLNet.Tests.Data;

public sealed class SyntheticBenchmarkTests
{
    private static SyntheticBenchmarkOptions Small(int seed = 7, double noise = 0, bool shift = false) =>
        new() { Train = 40, Validation = 12, Test = 12, ImageSize = 64, LabelNoise = noise, DomainShift = shift, Seed = seed };

    private static Dictionary<string, string> HashFiles(string dir) =>
        Directory.GetFiles(dir, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(dir, f), f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f))));

    [Fact]
    public void SameOptionsGiveByteIdenticalFiles()
    {
        using var a = new TempDirectory();
        using var b = new TempDirectory();
        using var c = new TempDirectory();
        SyntheticBenchmark.Generate(Small(noise: 0.25, shift: true), a.Path);
        SyntheticBenchmark.Generate(Small(noise: 0.25, shift: true), b.Path);
        SyntheticBenchmark.Generate(Small(seed: 8, noise: 0.25, shift: true), c.Path);
        var ha = HashFiles(a.Path);
        Assert.Equal(64 + 3, ha.Count);
        Assert.Equal(ha, HashFiles(b.Path));
        Assert.NotEqual(ha, HashFiles(c.Path));
    }

    [Fact]
    public void SeedsPerPromptRendersEachPromptThatManyTimesWithItsOwnSeed()
    {
        using var one = new TempDirectory();
        using var three = new TempDirectory();
        var options = Small();
        SyntheticBenchmark.Generate(options, one.Path);
        options.SeedsPerPrompt = 3;
        var summary = SyntheticBenchmark.Generate(options, three.Path);
        Assert.Equal("120 36 36 3", $"{summary.Train} {summary.Validation} {summary.Test} {summary.SeedsPerPrompt}");
        var single = ImageFolderDataset.Read(one.Path, "test");
        var copies = ImageFolderDataset.Read(three.Path, "test");
        Assert.Equal(36, copies.Count);
        for (int i = 0; i < single.Count; i++)
        {
            var group = copies.Skip(3 * i).Take(3).ToList();
            Assert.All(group, c => Assert.Equal((single[i].Prompt, single[i].VisualPrompt), (c.Prompt, c.VisualPrompt)));
            Assert.True(group.Select(c => c.Seed).Distinct().Count() == 3, $"prompt {i}: seeds {string.Join(",", group.Select(c => c.Seed))}");
            int distinct = group.Select(c => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(Path.Combine(three.Path, "test", c.FileName))))).Distinct().Count();
            // At 64 px the pixel-art style draws at 12 px, where a seed's sub-pixel jitter can vanish: two copies may coincide.
            Assert.True(distinct >= 2, $"prompt {i} ({single[i].Prompt}): {distinct} distinct images of 3");
        }
    }

    [Fact]
    public void ImagesOfOnePromptAreCloserToEachOtherThanToOtherPrompts()
    {
        using var dir = new TempDirectory();
        var options = Small();
        options.SeedsPerPrompt = 3;
        SyntheticBenchmark.Generate(options, dir.Path);
        var pairs = ImageFolderDataset.Read(dir.Path, "test");
        var pixels = pairs.Select(p =>
        {
            using var bitmap = SKBitmap.Decode(Path.Combine(dir.Path, "test", p.FileName));
            return bitmap.Pixels.SelectMany(c => new double[] { c.Red, c.Green, c.Blue }).ToArray();
        }).ToArray();
        double Distance(int a, int b) => Math.Sqrt(pixels[a].Zip(pixels[b], (x, y) => (x - y) * (x - y)).Sum());
        var same = new List<double>();
        var other = new List<double>();
        for (int a = 0; a < pairs.Count; a++)
            for (int b = a + 1; b < pairs.Count; b++)
                (a / 3 == b / 3 ? same : other).Add(Distance(a, b));
        Assert.True(same.Average() < 0.6 * other.Average(), $"same prompt {same.Average():F0}, other prompts {other.Average():F0}");
    }

    [Fact]
    public void LabelNoiseMarksThatFractionOfTrainingPairsOnly()
    {
        using var dir = new TempDirectory();
        var summary = SyntheticBenchmark.Generate(Small(noise: 0.25), dir.Path);
        var train = ImageFolderDataset.Read(dir.Path, "train");
        Assert.Equal(10, train.Count(p => p.IsNoisy));
        Assert.Equal(10, summary.NoisyPairs);
        Assert.DoesNotContain(ImageFolderDataset.Read(dir.Path, "test"), p => p.IsNoisy);
        Assert.DoesNotContain(ImageFolderDataset.Read(dir.Path, "validation"), p => p.IsNoisy);
    }

    [Fact]
    public void NoisyPairsShowAnotherPromptsPicture()
    {
        using var clean = new TempDirectory();
        using var noisy = new TempDirectory();
        SyntheticBenchmark.Generate(Small(), clean.Path);
        SyntheticBenchmark.Generate(Small(noise: 0.25), noisy.Path);
        var cleanTrain = ImageFolderDataset.Read(clean.Path, "train");
        var noisyTrain = ImageFolderDataset.Read(noisy.Path, "train");
        for (int i = 0; i < cleanTrain.Count; i++)
        {
            Assert.Equal(cleanTrain[i].Prompt, noisyTrain[i].Prompt); // the prompt stays, only the picture changes
            bool same = File.ReadAllBytes(Path.Combine(clean.Path, "train", cleanTrain[i].FileName))
                .AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(noisy.Path, "train", noisyTrain[i].FileName)));
            Assert.Equal(!noisyTrain[i].IsNoisy, same);
        }
    }

    [Fact]
    public void DomainShiftMarksValidationAndTestAsTarget()
    {
        using var shifted = new TempDirectory();
        using var plain = new TempDirectory();
        SyntheticBenchmark.Generate(Small(shift: true), shifted.Path);
        SyntheticBenchmark.Generate(Small(), plain.Path);
        Assert.All(ImageFolderDataset.Read(shifted.Path, "train"), p => Assert.Equal("source", p.Domain));
        Assert.All(ImageFolderDataset.Read(shifted.Path, "test"), p => Assert.Equal("target", p.Domain));
        Assert.All(ImageFolderDataset.Read(shifted.Path, "validation"), p => Assert.Equal("target", p.Domain));
        Assert.All(ImageFolderDataset.Splits.SelectMany(s => ImageFolderDataset.Read(plain.Path, s)), p => Assert.Equal("source", p.Domain));
    }

    [Fact]
    public void TargetDomainUsesAnotherStyleMix()
    {
        // Pixel art and blur make up 10 % of the source mix and 55 % of the target mix.
        var rng = new Random(1);
        int Count(bool target) => Enumerable.Range(0, 2000).Count(_ => Scene.Sample(rng, target).Style is 4 or 5);
        int source = Count(false), target = Count(true);
        Assert.InRange(source, 100, 300);
        Assert.InRange(target, 950, 1250);
    }

    [Fact]
    public void VisualPromptHasNoFlavourWordsAndSitsInsideThePrompt()
    {
        using var dir = new TempDirectory();
        SyntheticBenchmark.Generate(Small(), dir.Path);
        var pairs = ImageFolderDataset.Splits.SelectMany(s => ImageFolderDataset.Read(dir.Path, s)).ToList();
        var flavour = SyntheticVocabulary.Flavour.Concat(SyntheticVocabulary.Artists).Concat(SyntheticVocabulary.FlavourPrefixes)
            .Select(f => new Regex($@"(^|[ ,]){Regex.Escape(f)}($|[ ,])")).ToList();
        Assert.All(pairs, p =>
        {
            Assert.NotNull(p.VisualPrompt);
            Assert.Contains(p.VisualPrompt!, p.Prompt);
            Assert.DoesNotContain(flavour, f => f.IsMatch(p.VisualPrompt!));
            Assert.Contains(" background", p.VisualPrompt!);
        });
        Assert.Contains(pairs, p => p.Prompt.Length > p.VisualPrompt!.Length); // flavour is added to most prompts
        Assert.True(pairs.Select(p => p.VisualPrompt).Distinct().Count() > pairs.Count * 9 / 10, "visual prompts are varied");
    }

    [Fact]
    public void ImagesArePngsOfTheRequestedSizeAndShowTheBackgroundColour()
    {
        using var dir = new TempDirectory();
        SyntheticBenchmark.Generate(Small(), dir.Path);
        var pair = ImageFolderDataset.Read(dir.Path, "train").First(p => p.VisualPrompt!.Contains("flat", StringComparison.Ordinal));
        using var bitmap = SKBitmap.Decode(Path.Combine(dir.Path, "train", pair.FileName));
        Assert.Equal((64, 64), (bitmap.Width, bitmap.Height));
        var background = SyntheticVocabulary.Backgrounds.Single(b => pair.VisualPrompt!.Contains($"on a {b.Name} background", StringComparison.Ordinal));
        Assert.Equal(background.Color, bitmap.GetPixel(0, 0)); // a flat picture's corner is its named background
    }

    [Theory]
    [InlineData(0, 1, 1, 64, 0.0)]
    [InlineData(10, 1, 1, 8, 0.0)]
    [InlineData(10, 1, 1, 64, 1.5)]
    [InlineData(10, -1, 1, 64, 0.0)]
    public void BadOptionsAreRejected(int train, int validation, int test, int size, double noise) =>
        Assert.Throws<ReverseSdInputException>(() => SyntheticBenchmark.Generate(
            new SyntheticBenchmarkOptions { Train = train, Validation = validation, Test = test, ImageSize = size, LabelNoise = noise }, Path.GetTempPath()));
}
