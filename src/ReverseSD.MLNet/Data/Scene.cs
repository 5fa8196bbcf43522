using SkiaSharp;

namespace ReverseSD.MLNet.Data;

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
