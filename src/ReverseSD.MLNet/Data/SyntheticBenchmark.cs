using System.Diagnostics;

namespace ReverseSD.MLNet.Data;

/// <summary>Sizes and dials of the generated benchmark (README.md, "Data").</summary>
public sealed class SyntheticBenchmarkOptions
{
    /// <summary>Number of training pairs.</summary>
    public int Train { get; set; } = 2000;

    /// <summary>Number of validation pairs.</summary>
    public int Validation { get; set; } = 300;

    /// <summary>Number of test pairs.</summary>
    public int Test { get; set; } = 300;

    /// <summary>Width and height of the square PNG images, in pixels.</summary>
    public int ImageSize { get; set; } = 224;

    /// <summary>Fraction (0..1) of training pairs whose image was drawn from another prompt (column <c>is_noisy</c> = 1).</summary>
    public double LabelNoise { get; set; }

    /// <summary>When true, validation and test ("target" domain) are drawn with another mix of rendering styles than train ("source").</summary>
    public bool DomainShift { get; set; }

    /// <summary>Seed of every random choice; the same options give byte-identical files.</summary>
    public int Seed { get; set; }

    /// <summary>
    /// Images rendered per prompt, each with its own seed (paper §4.7, robustness to the generation seed): the seed moves,
    /// resizes, turns and shades the shapes the prompt names but never changes them. 1 (default) gives one image per prompt.
    /// </summary>
    public int SeedsPerPrompt { get; set; } = 1;
}

/// <summary>What <see cref="SyntheticBenchmark.Generate"/> wrote.</summary>
/// <param name="OutputDirectory">The data set folder (train, validation, test sub-folders).</param>
/// <param name="Train">Training pairs written.</param>
/// <param name="Validation">Validation pairs written.</param>
/// <param name="Test">Test pairs written.</param>
/// <param name="NoisyPairs">Training pairs whose image belongs to another prompt.</param>
/// <param name="UniqueVisualPrompts">Distinct visual-only prompts over all splits.</param>
/// <param name="Elapsed">Wall-clock time of the generation.</param>
/// <param name="SeedsPerPrompt">Images per prompt; the pair counts include every copy.</param>
public sealed record SyntheticBenchmarkSummary(
    string OutputDirectory, int Train, int Validation, int Test, int NoisyPairs, int UniqueVisualPrompts, TimeSpan Elapsed, int SeedsPerPrompt = 1);

/// <summary>
/// Generates the project's benchmark: pictures of one to three groups of coloured shapes (count, size, colour, shape,
/// position, background, rendering style) drawn with SkiaSharp, with prompts that describe them plus real-prompt
/// "flavour" words (artists, "trending on artstation", "4k") that do not change the picture. It never stands in for
/// DiffusionDB in a claim about DiffusionDB.
/// </summary>
public static class SyntheticBenchmark
{
    /// <summary>Domain name of the training split (and of every split without domain shift).</summary>
    public const string SourceDomain = "source";

    /// <summary>Domain name of validation and test under domain shift.</summary>
    public const string TargetDomain = "target";

    /// <summary>
    /// Writes DIR/{train,validation,test}/ PNG files and metadata.csv (columns file_name, prompt, visual_prompt, seed, is_noisy, domain);
    /// with <see cref="SyntheticBenchmarkOptions.SeedsPerPrompt"/> S &gt; 1 every prompt has S rows (files NNNNNN-K.png, one seed each).
    /// </summary>
    /// <param name="options">Sizes and dials; validated here.</param>
    /// <param name="outputDirectory">The data set folder; existing files of the same names are replaced.</param>
    /// <param name="progress">Receives one report per image.</param>
    /// <param name="cancellationToken">Cancels the work between images.</param>
    public static SyntheticBenchmarkSummary Generate(
        SyntheticBenchmarkOptions options, string outputDirectory, IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(outputDirectory);
        Validate(options);
        var clock = Stopwatch.StartNew();
        int[] sizes = [options.Train, options.Validation, options.Test];
        int copies = options.SeedsPerPrompt;
        int total = sizes.Sum() * copies, done = 0, noisyTotal = 0;
        var visualPrompts = new HashSet<string>(StringComparer.Ordinal);
        for (int s = 0; s < 3; s++)
        {
            string split = ImageFolderDataset.Splits[s];
            string dir = Path.Combine(outputDirectory, split);
            Directory.CreateDirectory(dir);
            bool target = options.DomainShift && s > 0;
            var noisy = s == 0 ? NoisyIndices(options, sizes[0]) : [];
            noisyTotal += noisy.Count * copies;
            var pairs = new ImagePromptPair[sizes[s] * copies];
            var parallel = new ParallelOptions { CancellationToken = cancellationToken, MaxDegreeOfParallelism = Environment.ProcessorCount };
            // Each image depends only on (seed, split, index): the thread schedule cannot change any file.
            Parallel.For(0, sizes[s], parallel, i =>
            {
                long imageSeed = DeriveSeed(options.Seed, s, i);
                var rng = new Random(unchecked((int)imageSeed));
                var scene = Scene.Sample(rng, target);
                var text = PromptText.Compose(scene, rng);
                bool isNoisy = noisy.Contains(i);
                // Label noise: the picture comes from an independent scene, the prompt stays.
                var drawn = isNoisy ? Scene.Sample(new Random(unchecked((int)DeriveSeed(options.Seed, 3, i))), target) : scene;
                if (copies == 1)
                {
                    string fileName = $"{i:D6}.png";
                    AtomicFile.WriteAllBytes(Path.Combine(dir, fileName), SceneRenderer.RenderPng(drawn, options.ImageSize, rng));
                    pairs[i] = new ImagePromptPair(fileName, text.Prompt, text.Visual, imageSeed, isNoisy, target ? TargetDomain : SourceDomain);
                    progress?.Report(new ProgressReport("synth", Interlocked.Increment(ref done), total));
                    return;
                }
                // One generation seed per copy: it draws the copy's shade, jitter, sizes and turns; the scene (content) is shared.
                for (int k = 0; k < copies; k++)
                {
                    long copySeed = DeriveSeed(options.Seed, 10 + s, checked(i * copies + k));
                    var copyRng = new Random(unchecked((int)copySeed));
                    float shade = (float)(copyRng.NextDouble() * 2 - 1) * MaximumSeedShade;
                    string fileName = $"{i:D6}-{k}.png";
                    AtomicFile.WriteAllBytes(Path.Combine(dir, fileName), SceneRenderer.RenderPng(drawn, options.ImageSize, copyRng, shade));
                    pairs[i * copies + k] = new ImagePromptPair(fileName, text.Prompt, text.Visual, copySeed, isNoisy, target ? TargetDomain : SourceDomain);
                    progress?.Report(new ProgressReport("synth", Interlocked.Increment(ref done), total));
                }
            });
            cancellationToken.ThrowIfCancellationRequested();
            ImageFolderDataset.Write(outputDirectory, split, pairs);
            foreach (var p in pairs) visualPrompts.Add(p.VisualPrompt!);
        }
        return new SyntheticBenchmarkSummary(Path.GetFullPath(outputDirectory), options.Train * copies, options.Validation * copies, options.Test * copies,
            noisyTotal, visualPrompts.Count, clock.Elapsed, copies);
    }

    /// <summary>Largest shade change a generation seed makes: shapes mixed up to this fraction toward white or black.</summary>
    internal const float MaximumSeedShade = 0.2f;

    private static void Validate(SyntheticBenchmarkOptions o)
    {
        if (o.Train < 1 || o.Validation < 0 || o.Test < 0)
            throw new ReverseSdInputException($"synthetic benchmark sizes train={o.Train}, validation={o.Validation}, test={o.Test}: train must be at least 1, the others at least 0.");
        if (o.ImageSize is < 32 or > 2048)
            throw new ReverseSdInputException($"synthetic benchmark ImageSize {o.ImageSize} must be between 32 and 2048 pixels.");
        if (!(o.LabelNoise >= 0 && o.LabelNoise <= 1))
            throw new ReverseSdInputException($"synthetic benchmark LabelNoise {o.LabelNoise} must be a fraction between 0 and 1.");
        if (o.SeedsPerPrompt is < 1 or > 100)
            throw new ReverseSdInputException($"synthetic benchmark SeedsPerPrompt {o.SeedsPerPrompt} must be between 1 and 100.");
    }

    /// <summary>Exactly round(LabelNoise · n) training indices, chosen by a seeded shuffle.</summary>
    private static HashSet<int> NoisyIndices(SyntheticBenchmarkOptions o, int n)
    {
        int count = (int)Math.Round(o.LabelNoise * n);
        var order = Enumerable.Range(0, n).ToArray();
        new Random(unchecked((int)DeriveSeed(o.Seed, 4, 0))).Shuffle(order);
        return [.. order.Take(count)];
    }

    /// <summary>SplitMix64 of (seed, stream, index): independent per-image seeds with no shared random state.</summary>
    internal static long DeriveSeed(int seed, int stream, int index)
    {
        ulong z = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)stream * 0xBF58476D1CE4E5B9UL + (ulong)index * 0x94D049BB133111EBUL + 0x2545F4914F6CDD1DUL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (long)(z & 0x7FFFFFFF);
    }
}
