using Microsoft.ML;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Onnx;
using SkiaSharp;

namespace ReverseSD.MLNet.Tests.Backbones;

/// <summary>Generated images and tiny ONNX encoders for the backbone tests.</summary>
internal static class BackboneTestData
{
    public sealed class PathRow
    {
        public string ImagePath { get; set; } = "";
    }

    /// <summary>Draws a PNG: a background colour with a circle and a bar whose placement depends on <paramref name="seed"/>.</summary>
    public static string WritePng(string path, int seed, int width = 96, int height = 80)
    {
        var random = new Random(seed);
        using var bitmap = new SKBitmap(width, height);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256)));
            using var paint = new SKPaint { IsAntialias = true, Color = new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256)) };
            canvas.DrawCircle(random.Next(width), random.Next(height), 10 + random.Next(30), paint);
            paint.Color = new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));
            canvas.DrawRect(random.Next(width / 2), random.Next(height / 2), 10 + random.Next(width / 2), 5 + random.Next(10), paint);
        }
        WriteBitmap(path, bitmap);
        return path;
    }

    /// <summary>Writes a PNG of one solid colour.</summary>
    public static string WriteSolidPng(string path, SKColor colour, int width = 40, int height = 30)
    {
        using var bitmap = new SKBitmap(width, height);
        using (var canvas = new SKCanvas(bitmap)) canvas.Clear(colour);
        WriteBitmap(path, bitmap);
        return path;
    }

    private static void WriteBitmap(string path, SKBitmap bitmap)
    {
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
    }

    /// <summary>
    /// A tiny encoder: input "data" float [N,3,H,W] (dynamic size) → global average pool → output "pooled" [N,3,1,1],
    /// i.e. the features are the per-channel means of the normalised input.
    /// </summary>
    public static string WriteChannelMeanModel(string path, long height = -1, long width = -1)
    {
        var g = new OnnxGraphBuilder("channel-mean");
        g.Input("data", [-1, 3, height, width]);
        string pooled = g.Node("GlobalAveragePool", ["data"]);
        g.Output(pooled, "pooled", [-1, 3, 1, 1]);
        File.WriteAllBytes(path, g.ToBytes());
        return path;
    }

    /// <summary>Writes a data set split folder with <paramref name="count"/> generated images and <paramref name="corrupt"/> files that are not images.</summary>
    public static string WriteDataset(string root, string split, int count, int corrupt = 0)
    {
        string dir = Path.Combine(root, split);
        Directory.CreateDirectory(dir);
        var pairs = new List<ImagePromptPair>();
        for (int i = 0; i < count; i++)
        {
            WritePng(Path.Combine(dir, $"img{i}.png"), seed: i + 1);
            pairs.Add(new ImagePromptPair($"img{i}.png", $"a picture number {i}"));
        }
        for (int i = 0; i < corrupt; i++)
        {
            File.WriteAllText(Path.Combine(dir, $"corrupt{i}.png"), "this is not a PNG");
            pairs.Add(new ImagePromptPair($"corrupt{i}.png", $"a broken picture {i}"));
        }
        ImageFolderDataset.Write(root, split, pairs);
        return dir;
    }

    public static IDataView Paths(MLContext ml, params string[] paths) =>
        ml.Data.LoadFromEnumerable(paths.Select(p => new PathRow { ImagePath = p }).ToList());

    public static float[][] Features(MLContext ml, IDataView data, string column = "ImageFeatures") =>
        ml.Data.CreateEnumerable<FeatureRow>(
            ml.Transforms.CopyColumns("F", column).Fit(data).Transform(data), reuseRowObject: false,
            ignoreMissingColumns: true).Select(r => r.F).ToArray();

    public sealed class FeatureRow
    {
        public float[] F { get; set; } = [];
    }
}
