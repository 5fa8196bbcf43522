namespace ReverseSD.MLNet.Retrieval;

/// <summary>Generated banks and the plain-loop reference search for <c>reversesd bench bank</c> and the tests.</summary>
internal static class PromptBankBenchmark
{
    private static readonly string[] Subjects = ["castle", "fox", "robot", "lighthouse", "dragon", "city", "forest", "astronaut", "ship", "owl"];
    private static readonly string[] Styles = ["oil painting", "digital art", "watercolor", "concept art", "photograph", "3d render"];

    /// <summary>A bank of <paramref name="count"/> random unit vectors with generated prompt texts, written directly in the bank format.</summary>
    public static void WriteRandomBank(string path, long count, int dimension, int seed)
    {
        var info = new PromptBankInfo { Encoder = PromptBank.EncoderIdentity, EncoderSha256 = PromptBank.EncoderSha256, Sources = ["generated"], Filters = "none", PromptsRead = count };
        PromptBankBuilder.WriteStreaming(path, info, dimension, count, (start, rows, buffer) =>
        {
            var random = new Random(HashCode.Combine(seed, start));
            for (int i = 0; i < rows * dimension; i++) buffer[i] = (float)(random.NextDouble() * 2 - 1);
        }, GeneratedPrompt);
    }

    /// <summary>Row <paramref name="i"/>'s generated prompt.</summary>
    public static string GeneratedPrompt(long i) =>
        $"{Subjects[i % Subjects.Length]} number {i}, {Styles[i / Subjects.Length % Styles.Length]}, highly detailed";

    /// <summary>Random unit vectors (uniform in the cube, then normalised), seeded.</summary>
    public static float[][] RandomUnitVectors(int count, int dimension, int seed)
    {
        var random = new Random(seed);
        var result = new float[count][];
        for (int i = 0; i < count; i++)
        {
            var v = new float[dimension];
            for (int j = 0; j < dimension; j++) v[j] = (float)(random.NextDouble() * 2 - 1);
            PromptBank.Normalise(v, v);
            result[i] = v;
        }
        return result;
    }

    /// <summary>The reference: one dot product per bank row and query, a sorted list of the best k (ties: lower row first).</summary>
    public static (long Index, float Score)[][] PlainLoopSearch(PromptBank bank, IReadOnlyList<float[]> queries, int k)
    {
        int d = bank.Dimension;
        var normalised = queries.Select(q =>
        {
            var v = new float[d];
            PromptBank.Normalise(q, v);
            return v;
        }).ToList();
        var best = normalised.Select(_ => new List<(long Index, float Score)>()).ToList();
        const int chunk = 4096;
        var buffer = new float[chunk * d];
        for (long start = 0; start < bank.Count; start += chunk)
        {
            int rows = (int)Math.Min(chunk, bank.Count - start);
            bank.ReadVectors(start, rows, buffer);
            for (int r = 0; r < rows; r++)
            {
                for (int q = 0; q < normalised.Count; q++)
                {
                    float dot = 0;
                    for (int j = 0; j < d; j++) dot += normalised[q][j] * buffer[r * d + j];
                    var list = best[q];
                    if (list.Count < k || dot > list[^1].Score)
                    {
                        int at = list.FindIndex(h => dot > h.Score);
                        list.Insert(at < 0 ? list.Count : at, (start + r, dot));
                        if (list.Count > k) list.RemoveAt(list.Count - 1);
                    }
                }
            }
        }
        return best.Select(l => l.ToArray()).ToArray();
    }
}
