using System.Reflection;
using SkiaSharp;

namespace ReverseSD.MLNet.Data;

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
