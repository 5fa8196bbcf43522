using Microsoft.ML;
using Microsoft.ML.Data;

namespace ReverseSD.MLNet.Tests;

/// <summary>Small generated vector data for the Retrieval, Ensemble and Dakl tests.</summary>
internal static class VectorData
{
    public static float[][] Random(Random random, int rows, int columns, float shift = 0)
        => Enumerable.Range(0, rows).Select(_ => Enumerable.Range(0, columns).Select(_ => (float)(random.NextDouble() * 2 - 1 + shift)).ToArray()).ToArray();

    public static float[] Normalise(float[] x)
    {
        double norm = Math.Sqrt(x.Sum(v => (double)v * v));
        return x.Select(v => (float)(v / Math.Max(norm, 1e-12))).ToArray();
    }

    /// <summary>Loads rows of <typeparamref name="T"/> whose float[] properties have the given sizes.</summary>
    public static IDataView Load<T>(MLContext ml, IEnumerable<T> rows, params (string Name, int Size)[] sizes) where T : class
    {
        var definition = SchemaDefinition.Create(typeof(T));
        foreach (var (name, size) in sizes)
            definition[name].ColumnType = new VectorDataViewType(NumberDataViewType.Single, size);
        return ml.Data.LoadFromEnumerable(rows, definition);
    }

    public static float[][] ReadColumn(IDataView data, string name)
        => data.GetColumn<VBuffer<float>>(name).Select(v => v.DenseValues().ToArray()).ToArray();

    public static string[][] ReadTextColumn(IDataView data, string name)
        => data.GetColumn<VBuffer<ReadOnlyMemory<char>>>(name).Select(v => v.DenseValues().Select(s => s.ToString()).ToArray()).ToArray();

    public static void AssertClose(float[][] expected, float[][] actual, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = MaxDifference(expected, actual);
        Assert.True(worst <= tolerance, $"max |difference| {worst:G4} > {tolerance:G4}");
    }

    public static double MaxDifference(float[][] expected, float[][] actual)
    {
        double worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i].Length, actual[i].Length);
            for (int j = 0; j < expected[i].Length; j++) worst = Math.Max(worst, Math.Abs(expected[i][j] - actual[i][j]));
        }
        return worst;
    }

    /// <summary>Saves with mlContext.Model.Save, loads back, and returns the loaded model's output column.</summary>
    public static float[][] SaveLoadAndRead(MLContext ml, ITransformer model, IDataView data, string column)
    {
        string path = Path.Combine(Path.GetTempPath(), $"reversesd-{Guid.NewGuid():N}.zip");
        try
        {
            ml.Model.Save(model, data.Schema, path);
            var loaded = ReverseSD.MLNet.Onnx.OrtFormatMisread.Retry(() => ml.Model.Load(path, out _));   // a temporary copy named *.ort: loaded again
            try
            {
                return ReadColumn(loaded.Transform(data), column);
            }
            finally
            {
                (loaded as IDisposable)?.Dispose();
            }
        }
        finally
        {
            File.Delete(path);
        }
    }
}
