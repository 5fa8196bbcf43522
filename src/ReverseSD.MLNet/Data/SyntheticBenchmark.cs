using System.Diagnostics;
using System.Reflection;
using SkiaSharp;

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
}

/// <summary>What <see cref="SyntheticBenchmark.Generate"/> wrote.</summary>
/// <param name="OutputDirectory">The data set folder (train, validation, test sub-folders).</param>
/// <param name="Train">Training pairs written.</param>
/// <param name="Validation">Validation pairs written.</param>
/// <param name="Test">Test pairs written.</param>
/// <param name="NoisyPairs">Training pairs whose image belongs to another prompt.</param>
/// <param name="UniqueVisualPrompts">Distinct visual-only prompts over all splits.</param>
/// <param name="Elapsed">Wall-clock time of the generation.</param>
public sealed record SyntheticBenchmarkSummary(
    string OutputDirectory, int Train, int Validation, int Test, int NoisyPairs, int UniqueVisualPrompts, TimeSpan Elapsed);

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

    /// <summary>Writes DIR/{train,validation,test}/ PNG files and metadata.csv (columns file_name, prompt, visual_prompt, seed, is_noisy, domain).</summary>
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
        int total = sizes.Sum(), done = 0, noisyTotal = 0;
        var visualPrompts = new HashSet<string>(StringComparer.Ordinal);
        for (int s = 0; s < 3; s++)
        {
            string split = ImageFolderDataset.Splits[s];
            string dir = Path.Combine(outputDirectory, split);
            Directory.CreateDirectory(dir);
            bool target = options.DomainShift && s > 0;
            var noisy = s == 0 ? NoisyIndices(options, sizes[0]) : [];
            noisyTotal += noisy.Count;
            var pairs = new ImagePromptPair[sizes[s]];
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
                string fileName = $"{i:D6}.png";
                AtomicFile.WriteAllBytes(Path.Combine(dir, fileName), SceneRenderer.RenderPng(drawn, options.ImageSize, rng));
                pairs[i] = new ImagePromptPair(fileName, text.Prompt, text.Visual, imageSeed, isNoisy, target ? TargetDomain : SourceDomain);
                progress?.Report(new ProgressReport("synth", Interlocked.Increment(ref done), total));
            });
            cancellationToken.ThrowIfCancellationRequested();
            ImageFolderDataset.Write(outputDirectory, split, pairs);
            foreach (var p in pairs) visualPrompts.Add(p.VisualPrompt!);
        }
        return new SyntheticBenchmarkSummary(
            Path.GetFullPath(outputDirectory), options.Train, options.Validation, options.Test, noisyTotal, visualPrompts.Count, clock.Elapsed);
    }

    private static void Validate(SyntheticBenchmarkOptions o)
    {
        if (o.Train < 1 || o.Validation < 0 || o.Test < 0)
            throw new ReverseSdInputException($"synthetic benchmark sizes train={o.Train}, validation={o.Validation}, test={o.Test}: train must be at least 1, the others at least 0.");
        if (o.ImageSize is < 32 or > 2048)
            throw new ReverseSdInputException($"synthetic benchmark ImageSize {o.ImageSize} must be between 32 and 2048 pixels.");
        if (!(o.LabelNoise >= 0 && o.LabelNoise <= 1))
            throw new ReverseSdInputException($"synthetic benchmark LabelNoise {o.LabelNoise} must be a fraction between 0 and 1.");
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

/// <summary>Word lists and their pictures: colours, shapes, backgrounds, rendering styles, flavour phrases.</summary>
internal static class SyntheticVocabulary
{
    public static readonly (string Name, SKColor Color)[] Colors =
    [
        ("red", new SKColor(220, 30, 30)), ("orange", new SKColor(245, 140, 0)), ("yellow", new SKColor(250, 220, 20)),
        ("green", new SKColor(40, 170, 50)), ("blue", new SKColor(30, 80, 230)), ("purple", new SKColor(140, 40, 190)),
        ("pink", new SKColor(250, 120, 190)), ("brown", new SKColor(130, 80, 30)), ("white", new SKColor(250, 250, 250)),
        ("black", new SKColor(15, 15, 15)), ("cyan", new SKColor(0, 200, 210)),
    ];

    public static readonly (string Name, SKColor Color)[] Backgrounds =
    [
        ("white", new SKColor(245, 245, 245)), ("black", new SKColor(20, 20, 20)), ("gray", new SKColor(128, 128, 128)),
        ("beige", new SKColor(225, 205, 170)), ("light blue", new SKColor(170, 210, 240)), ("dark blue", new SKColor(20, 30, 90)),
        ("dark green", new SKColor(20, 70, 35)),
    ];

    public static readonly (string Singular, string Plural)[] Shapes =
    [
        ("circle", "circles"), ("square", "squares"), ("triangle", "triangles"), ("star", "stars"), ("heart", "hearts"),
        ("hexagon", "hexagons"), ("ring", "rings"), ("cross", "crosses"), ("diamond", "diamonds"), ("crescent", "crescents"),
    ];

    /// <summary>Rendering styles and the phrases that name them in a prompt.</summary>
    public static readonly string[][] StylePhrases =
    [
        ["flat vector illustration", "flat design"],
        ["line drawing", "outline sketch"],
        ["glossy 3d render", "soft shaded 3d render"],
        ["grainy film photo", "noisy grainy photo"],
        ["pixel art", "8-bit pixel art"],
        ["blurry photo", "out of focus photo"],
    ];

    /// <summary>Style mix of the source domain (train) and of the target domain (validation/test under domain shift).</summary>
    public static readonly double[] SourceStyleWeights = [0.3, 0.25, 0.25, 0.1, 0.05, 0.05];
    public static readonly double[] TargetStyleWeights = [0.05, 0.05, 0.1, 0.25, 0.25, 0.3];

    public static readonly string[] Artists = LoadList("synth-artists.txt");
    public static readonly string[] Flavour = LoadList("synth-flavour.txt");
    public static readonly string[] FlavourPrefixes = ["masterpiece", "award winning", "beautiful", "epic", "stunning"];

    private static string[] LoadList(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("ReverseSD.MLNet.data." + name)
            ?? throw new InvalidOperationException($"embedded resource data/{name} is missing from the build.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
    }
}

/// <summary>One group of identical shapes and where it sits (anchor in fractions of the image, stacking direction).</summary>
internal sealed record ShapeGroup(int Count, bool Big, int Color, int Shape, float AnchorX, float AnchorY, bool StackVertically);

/// <summary>A picture's content: one to three groups, a background, a style and the layout phrase that ties them.</summary>
internal sealed record Scene(ShapeGroup[] Groups, int Layout, int Background, int Style)
{
    // Layouts: single group at a position (0..4), two groups by a relation (5..8), three groups in a row/column (9..10).
    public static readonly (float X, float Y, bool Vertical, string Phrase)[] SinglePositions =
    [
        (0.5f, 0.5f, false, "in the center"), (0.27f, 0.5f, true, "on the left"), (0.73f, 0.5f, true, "on the right"),
        (0.5f, 0.27f, false, "at the top"), (0.5f, 0.73f, false, "at the bottom"),
    ];

    public static Scene Sample(Random rng, bool targetDomain)
    {
        int background = rng.Next(SyntheticVocabulary.Backgrounds.Length);
        var weights = targetDomain ? SyntheticVocabulary.TargetStyleWeights : SyntheticVocabulary.SourceStyleWeights;
        int style = Pick(rng, weights);
        int nGroups = 1 + Pick(rng, [0.4, 0.35, 0.25]);
        int layout = nGroups switch
        {
            1 => rng.Next(5),
            2 => 5 + rng.Next(4),
            _ => 9 + rng.Next(2),
        };
        (float X, float Y, bool Vertical)[] anchors = layout switch
        {
            < 5 => [(SinglePositions[layout].X, SinglePositions[layout].Y, SinglePositions[layout].Vertical)],
            5 => [(0.27f, 0.5f, true), (0.73f, 0.5f, true)],   // A to the left of B
            6 => [(0.73f, 0.5f, true), (0.27f, 0.5f, true)],   // A to the right of B
            7 => [(0.5f, 0.27f, false), (0.5f, 0.73f, false)], // A above B
            8 => [(0.5f, 0.73f, false), (0.5f, 0.27f, false)], // A below B
            9 => [(1 / 6f, 0.5f, true), (0.5f, 0.5f, true), (5 / 6f, 0.5f, true)],
            _ => [(0.5f, 1 / 6f, false), (0.5f, 0.5f, false), (0.5f, 5 / 6f, false)],
        };
        var bg = SyntheticVocabulary.Backgrounds[background].Color;
        var usable = Enumerable.Range(0, SyntheticVocabulary.Colors.Length)
            .Where(c => Distance(SyntheticVocabulary.Colors[c].Color, bg) > 110).ToArray();
        var groups = new ShapeGroup[nGroups];
        for (int g = 0; g < nGroups; g++)
        {
            int color, shape;
            do
            {
                color = usable[rng.Next(usable.Length)];
                shape = rng.Next(SyntheticVocabulary.Shapes.Length);
            }
            while (groups.Take(g).Any(o => o.Color == color && o.Shape == shape));
            int count = 1 + Pick(rng, [0.5, 0.3, 0.2]);
            groups[g] = new ShapeGroup(count, rng.Next(2) == 1, color, shape, anchors[g].X, anchors[g].Y, anchors[g].Vertical);
        }
        return new Scene(groups, layout, background, style);
    }

    private static int Pick(Random rng, double[] weights)
    {
        double u = rng.NextDouble() * weights.Sum();
        for (int i = 0; i < weights.Length; i++)
        {
            u -= weights[i];
            if (u < 0) return i;
        }
        return weights.Length - 1;
    }

    private static double Distance(SKColor a, SKColor b) =>
        Math.Sqrt(Math.Pow(a.Red - b.Red, 2) + Math.Pow(a.Green - b.Green, 2) + Math.Pow(a.Blue - b.Blue, 2));
}

/// <summary>Builds a scene's visual prompt and the full prompt with flavour words around it.</summary>
internal static class PromptText
{
    public static (string Prompt, string Visual) Compose(Scene scene, Random rng)
    {
        var g = scene.Groups.Select(o => NounPhrase(o, rng)).ToArray();
        string objects = scene.Layout switch
        {
            < 5 => $"{g[0]} {Scene.SinglePositions[scene.Layout].Phrase}",
            5 => $"{g[0]} to the left of {g[1]}",
            6 => $"{g[0]} to the right of {g[1]}",
            7 => $"{g[0]} above {g[1]}",
            8 => $"{g[0]} below {g[1]}",
            9 => $"{g[0]} on the left, {g[1]} in the middle and {g[2]} on the right",
            _ => $"{g[0]} at the top, {g[1]} in the middle and {g[2]} at the bottom",
        };
        var phrases = SyntheticVocabulary.StylePhrases[scene.Style];
        string style = phrases[rng.Next(phrases.Length)];
        string background = $"on a {SyntheticVocabulary.Backgrounds[scene.Background].Name} background";
        string visual = rng.Next(2) == 0 ? $"{style} of {objects}, {background}" : $"{objects}, {background}, {style}";

        var parts = new List<string>();
        if (rng.NextDouble() < 0.2) parts.Add(SyntheticVocabulary.FlavourPrefixes[rng.Next(SyntheticVocabulary.FlavourPrefixes.Length)]);
        parts.Add(visual);
        int flavourCount = rng.Next(5); // 0..4 phrases
        var flavour = SyntheticVocabulary.Flavour;
        foreach (int f in Enumerable.Range(0, flavour.Length).OrderBy(_ => rng.Next()).Take(flavourCount))
            parts.Add(flavour[f]);
        if (rng.NextDouble() < 0.6)
        {
            var artists = SyntheticVocabulary.Artists;
            int a = rng.Next(artists.Length), b = rng.Next(artists.Length);
            parts.Insert(Math.Min(parts.Count, 2 + rng.Next(2)), rng.NextDouble() < 0.3 && a != b ? $"by {artists[a]} and {artists[b]}" : $"by {artists[a]}");
        }
        return (string.Join(", ", parts), visual);
    }

    private static string NounPhrase(ShapeGroup o, Random rng)
    {
        string count = o.Count switch { 1 => rng.Next(2) == 0 ? "a" : "one", 2 => "two", _ => "three" };
        string size = o.Big ? (rng.Next(2) == 0 ? "big" : "large") : (rng.Next(2) == 0 ? "small" : "little");
        var shape = SyntheticVocabulary.Shapes[o.Shape];
        return $"{count} {size} {SyntheticVocabulary.Colors[o.Color].Name} {(o.Count == 1 ? shape.Singular : shape.Plural)}";
    }
}

/// <summary>Draws a scene with SkiaSharp in one of six styles: flat, outlined, glossy gradient, noisy, pixelated, blurred.</summary>
internal static class SceneRenderer
{
    private const int Flat = 0, Outline = 1, Gradient = 2, Noisy = 3, Pixel = 4, Blur = 5;

    public static byte[] RenderPng(Scene scene, int size, Random rng)
    {
        var info = new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Premul);
        using var bitmap = new SKBitmap(info);
        using (var canvas = new SKCanvas(bitmap))
        {
            if (scene.Style == Pixel)
            {
                // Draw at 1/5 resolution, then scale up without filtering: blocky pixels.
                int small = Math.Max(8, size / 5);
                using var lowRes = new SKBitmap(new SKImageInfo(small, small, SKColorType.Rgba8888, SKAlphaType.Premul));
                using (var lowCanvas = new SKCanvas(lowRes))
                    DrawScene(lowCanvas, scene, small, Flat, rng, antialias: false);
                using var paint = new SKPaint { FilterQuality = SKFilterQuality.None, IsAntialias = false };
                canvas.DrawBitmap(lowRes, new SKRect(0, 0, size, size), paint);
            }
            else if (scene.Style == Blur)
            {
                using var sharp = new SKBitmap(info);
                using (var sharpCanvas = new SKCanvas(sharp))
                    DrawScene(sharpCanvas, scene, size, Flat, rng, antialias: true);
                canvas.Clear(SyntheticVocabulary.Backgrounds[scene.Background].Color);
                float sigma = size * 0.02f;
                using var paint = new SKPaint { ImageFilter = SKImageFilter.CreateBlur(sigma, sigma, SKShaderTileMode.Clamp) };
                canvas.DrawBitmap(sharp, 0, 0, paint);
            }
            else
            {
                DrawScene(canvas, scene, size, scene.Style == Noisy ? Flat : scene.Style, rng, antialias: true);
            }
        }
        if (scene.Style == Noisy) AddNoise(bitmap, rng, sigma: 30);
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    private static void DrawScene(SKCanvas canvas, Scene scene, int size, int style, Random rng, bool antialias)
    {
        var bg = SyntheticVocabulary.Backgrounds[scene.Background].Color;
        if (style == Gradient)
        {
            using var shader = SKShader.CreateLinearGradient(
                new SKPoint(0, 0), new SKPoint(0, size), [Mix(bg, SKColors.White, 0.25f), Mix(bg, SKColors.Black, 0.25f)], SKShaderTileMode.Clamp);
            using var bgPaint = new SKPaint { Shader = shader };
            canvas.DrawRect(0, 0, size, size, bgPaint);
        }
        else canvas.Clear(bg);

        float scale = scene.Groups.Length == 3 ? 0.85f : 1f;
        foreach (var group in scene.Groups)
        {
            var color = SyntheticVocabulary.Colors[group.Color].Color;
            float baseRadius = size * (group.Big ? 0.115f : 0.065f) * scale;
            for (int k = 0; k < group.Count; k++)
            {
                // Copies sit along the stacking axis, 0.27 of the image apart, with a little jitter.
                float offset = (k - (group.Count - 1) / 2f) * 0.27f * size;
                float cx = group.AnchorX * size + (group.StackVertically ? 0 : offset) + Jitter(rng, 0.025f * size);
                float cy = group.AnchorY * size + (group.StackVertically ? offset : 0) + Jitter(rng, 0.025f * size);
                float r = baseRadius * (0.9f + 0.2f * (float)rng.NextDouble());
                float angle = Jitter(rng, 10f);
                using var path = ShapePath(group.Shape, r);
                canvas.Save();
                canvas.Translate(cx, cy);
                canvas.RotateDegrees(angle);
                using var paint = new SKPaint { IsAntialias = antialias, Color = color };
                switch (style)
                {
                    case Outline:
                        paint.Style = SKPaintStyle.Stroke;
                        paint.StrokeWidth = Math.Max(2f, size * 0.025f);
                        paint.StrokeJoin = SKStrokeJoin.Round;
                        break;
                    case Gradient:
                        paint.Shader = SKShader.CreateRadialGradient(
                            new SKPoint(-0.35f * r, -0.35f * r), 1.7f * r, [Mix(color, SKColors.White, 0.55f), color, Mix(color, SKColors.Black, 0.45f)],
                            [0f, 0.45f, 1f], SKShaderTileMode.Clamp);
                        break;
                }
                canvas.DrawPath(path, paint);
                paint.Shader?.Dispose();
                canvas.Restore();
            }
        }
    }

    /// <summary>A shape centred on the origin whose size is set by <paramref name="r"/> (about its radius).</summary>
    private static SKPath ShapePath(int shape, float r)
    {
        var path = new SKPath();
        switch (SyntheticVocabulary.Shapes[shape].Singular)
        {
            case "circle":
                path.AddCircle(0, 0, r);
                break;
            case "square":
                path.AddRect(new SKRect(-0.85f * r, -0.85f * r, 0.85f * r, 0.85f * r));
                break;
            case "triangle":
                AddPolygon(path, 3, 1.15f * r, -90);
                break;
            case "hexagon":
                AddPolygon(path, 6, 1.05f * r, 0);
                break;
            case "star":
                for (int i = 0; i < 10; i++)
                {
                    double a = Math.PI / 180 * (-90 + 36 * i);
                    float rad = i % 2 == 0 ? 1.2f * r : 0.5f * r;
                    var p = new SKPoint(rad * (float)Math.Cos(a), rad * (float)Math.Sin(a));
                    if (i == 0) path.MoveTo(p); else path.LineTo(p);
                }
                path.Close();
                break;
            case "heart":
                path.MoveTo(0, 0.95f * r);
                path.CubicTo(-1.4f * r, 0.05f * r, -0.9f * r, -1.15f * r, 0, -0.45f * r);
                path.CubicTo(0.9f * r, -1.15f * r, 1.4f * r, 0.05f * r, 0, 0.95f * r);
                path.Close();
                break;
            case "ring":
                path.FillType = SKPathFillType.EvenOdd;
                path.AddCircle(0, 0, r);
                path.AddCircle(0, 0, 0.55f * r);
                break;
            case "cross":
                float w = 0.33f * r;
                path.AddRect(new SKRect(-w, -r, w, r));
                path.AddRect(new SKRect(-r, -w, r, w));
                path = Simplify(path);
                break;
            case "diamond":
                path.MoveTo(0, -1.15f * r);
                path.LineTo(0.7f * r, 0);
                path.LineTo(0, 1.15f * r);
                path.LineTo(-0.7f * r, 0);
                path.Close();
                break;
            case "crescent":
                {
                    using var outer = new SKPath();
                    using var inner = new SKPath();
                    outer.AddCircle(0, 0, r);
                    inner.AddCircle(0.45f * r, -0.15f * r, 0.85f * r);
                    path.Dispose();
                    path = outer.Op(inner, SKPathOp.Difference) ?? new SKPath(outer);
                    break;
                }
        }
        return path;
    }

    private static SKPath Simplify(SKPath path)
    {
        var simple = path.Simplify();
        if (simple == null) return path;
        path.Dispose();
        return simple;
    }

    private static void AddPolygon(SKPath path, int sides, float radius, float startDegrees)
    {
        for (int i = 0; i < sides; i++)
        {
            double a = Math.PI / 180 * (startDegrees + 360.0 * i / sides);
            var p = new SKPoint(radius * (float)Math.Cos(a), radius * (float)Math.Sin(a));
            if (i == 0) path.MoveTo(p); else path.LineTo(p);
        }
        path.Close();
    }

    private static void AddNoise(SKBitmap bitmap, Random rng, double sigma)
    {
        var span = bitmap.GetPixelSpan();
        var pixels = new byte[span.Length];
        span.CopyTo(pixels);
        for (int i = 0; i < pixels.Length; i += 4)
        {
            // One Gaussian draw per channel (Box-Muller); alpha stays opaque.
            for (int c = 0; c < 3; c++)
            {
                double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
                double n = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
                pixels[i + c] = (byte)Math.Clamp(pixels[i + c] + n * sigma, 0, 255);
            }
        }
        System.Runtime.InteropServices.Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);
    }

    private static float Jitter(Random rng, float amplitude) => (float)(rng.NextDouble() * 2 - 1) * amplitude;

    private static SKColor Mix(SKColor a, SKColor b, float t) => new(
        (byte)(a.Red + (b.Red - a.Red) * t), (byte)(a.Green + (b.Green - a.Green) * t), (byte)(a.Blue + (b.Blue - a.Blue) * t));
}
