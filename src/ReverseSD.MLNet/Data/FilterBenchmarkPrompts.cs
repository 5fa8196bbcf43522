using System.Text;

namespace ReverseSD.MLNet.Data;

/// <summary>
/// DiffusionDB-like prompts for timing the filters (`reversesd bench filters`): mostly new prompts of 8–40 words,
/// with exact repeats (one prompt, several images), near duplicates (a user editing the end or the start of a prompt),
/// trailing spaces, some non-English characters, "nan"/"null" and empty prompts.
/// </summary>
internal static class FilterBenchmarkPrompts
{
    private static readonly string[] Syllables =
        ["ka", "ro", "mi", "ten", "shu", "lo", "ver", "dan", "qui", "zel", "mor", "ath", "ien", "bri", "gal", "pho", "tro", "nex", "ul", "sa"];

    public static List<string> Generate(int count, int seed)
    {
        var rng = new Random(seed);
        var words = new string[5000];
        for (int i = 0; i < words.Length; i++)
        {
            var sb = new StringBuilder();
            int n = 1 + rng.Next(3);
            for (int k = 0; k < n; k++) sb.Append(Syllables[rng.Next(Syllables.Length)]);
            words[i] = sb.ToString();
        }
        var prompts = new List<string>(count);
        var sbPrompt = new StringBuilder();
        string NewPrompt(int nWords)
        {
            sbPrompt.Clear();
            for (int k = 0; k < nWords; k++)
            {
                if (k > 0) sbPrompt.Append(rng.Next(4) == 0 ? ", " : " ");
                sbPrompt.Append(words[rng.Next(words.Length)]);
            }
            return sbPrompt.ToString();
        }
        for (int i = 0; i < count; i++)
        {
            double u = rng.NextDouble();
            string p;
            if (prompts.Count == 0 || u < 0.55) p = NewPrompt(8 + rng.Next(33));
            else if (u < 0.75) p = prompts[prompts.Count - 1 - rng.Next(Math.Min(prompts.Count, 50))]; // same prompt again
            else if (u < 0.85) p = prompts[^1].TrimEnd() + ", " + NewPrompt(1 + rng.Next(4));  // edited end: same prefix
            else if (u < 0.92) p = NewPrompt(1 + rng.Next(4)) + " " + prompts[^1];            // edited start: same suffix
            else if (u < 0.97) p = " " + NewPrompt(8 + rng.Next(33)) + " ";
            else if (u < 0.985) p = NewPrompt(6 + rng.Next(10)) + " café ";
            else if (u < 0.995) p = rng.Next(2) == 0 ? "nan" : NewPrompt(5) + " null";
            else p = rng.Next(2) == 0 ? "" : " , ";
            prompts.Add(p);
        }
        return prompts;
    }
}
