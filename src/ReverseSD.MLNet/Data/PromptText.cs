namespace ReverseSD.MLNet.Data;

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
