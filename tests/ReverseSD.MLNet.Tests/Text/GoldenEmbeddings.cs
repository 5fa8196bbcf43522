using System.Globalization;
using ReverseSD.MLNet.Data;

namespace ReverseSD.MLNet.Tests.Text;

/// <summary>The 7 Kaggle sample prompts and their reference all-MiniLM-L6-v2 vectors (../shared/data/kaggle-sample).</summary>
internal static class GoldenEmbeddings
{
    /// <summary>(imgId, prompt, reference vector) in prompts.csv order.</summary>
    public static IReadOnlyList<(string Id, string Prompt, float[] Vector)> Load()
    {
        var (header, rows) = CsvTable.Read(SharedData.PathOf("kaggle-sample", "prompts.csv"));
        int idCol = CsvTable.IndexOf(header, "imgId"), promptCol = CsvTable.IndexOf(header, "prompt");
        var vectors = new Dictionary<string, float[]>();
        var (_, values) = CsvTable.Read(SharedData.PathOf("kaggle-sample", "sample_submission.csv"));
        foreach (var v in values)
        {
            int cut = v[0].LastIndexOf('_');
            string id = v[0][..cut];
            int e = int.Parse(v[0][(cut + 1)..], CultureInfo.InvariantCulture);
            if (!vectors.TryGetValue(id, out var vec)) vectors[id] = vec = new float[384];
            vec[e] = float.Parse(v[1], CultureInfo.InvariantCulture);
        }
        return rows.Select(r => (r[idCol], r[promptCol], vectors[r[idCol]])).ToList();
    }

    /// <summary>Cosine similarity.</summary>
    public static double Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }
        return dot / Math.Sqrt(na * nb);
    }

    /// <summary>Euclidean norm.</summary>
    public static double Norm(float[] a) => Math.Sqrt(a.Sum(x => (double)x * x));
}
