using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ReverseSD.MLNet.Backbones;

/// <summary>How an image is brought to the encoder's input size (ML.NET's <c>ResizeImages</c> resizing kinds).</summary>
public enum ImageResizeMode
{
    /// <summary>Stretch to the input size, ignoring the aspect ratio (ML.NET <c>Fill</c>).</summary>
    Stretch = 0,

    /// <summary>Scale uniformly so the image covers the input, then crop the centre (ML.NET <c>IsoCrop</c>, its default).</summary>
    CenterCrop = 1,

    /// <summary>Scale uniformly so the image fits inside the input, then pad (ML.NET <c>IsoPad</c>).</summary>
    Pad = 2,
}

/// <summary>Order of the three colour planes in the encoder's input tensor.</summary>
public enum ChannelOrder
{
    /// <summary>Red, green, blue (PyTorch/timm exports).</summary>
    Rgb = 0,

    /// <summary>Blue, green, red (Caffe/CNTK models such as ML.NET's ResNet18).</summary>
    Bgr = 1,
}

/// <summary>
/// Preprocessing an ONNX image encoder expects: input size, resize mode, channel order, NCHW layout and the
/// normalisation <c>(pixel · Scale − Mean[c]) / Std[c]</c> with pixels in 0..255, plus the input/output tensor names.
/// Parsed from a compact string (<see cref="Parse"/>) or a JSON file (<see cref="Load"/>).
/// </summary>
public sealed record ImagePreprocessing
{
    /// <summary>Input width in pixels.</summary>
    public int Width { get; init; } = 224;

    /// <summary>Input height in pixels.</summary>
    public int Height { get; init; } = 224;

    /// <summary>How images are brought to <see cref="Width"/> × <see cref="Height"/>.</summary>
    public ImageResizeMode Resize { get; init; } = ImageResizeMode.CenterCrop;

    /// <summary>Order of the colour planes.</summary>
    public ChannelOrder Order { get; init; } = ChannelOrder.Rgb;

    /// <summary>Factor applied to the 0..255 pixel values before the mean is subtracted (1/255 for 0..1 inputs).</summary>
    public float Scale { get; init; } = 1f / 255f;

    /// <summary>Per-channel mean subtracted after scaling, in the order of <see cref="Order"/> (ImageNet by default).</summary>
    public IReadOnlyList<float> Mean { get; init; } = [0.485f, 0.456f, 0.406f];

    /// <summary>Per-channel standard deviation divided by, in the order of <see cref="Order"/> (ImageNet by default).</summary>
    public IReadOnlyList<float> Std { get; init; } = [0.229f, 0.224f, 0.225f];

    /// <summary>Name of the model's image input tensor; null takes the model's only input.</summary>
    public string? InputName { get; init; }

    /// <summary>Name of the tensor to read features from (a graph output or any intermediate tensor); null takes the first output.</summary>
    public string? OutputName { get; init; }

    /// <summary>The keys a compact string (<see cref="Parse"/>) accepts.</summary>
    public static IReadOnlyList<string> Keys { get; } = ["size", "resize", "crop", "order", "layout", "scale", "mean", "std", "input", "output"];

    /// <summary>
    /// Parses a compact spec such as <c>size=224,resize=crop,order=rgb,scale=0.00392157,mean=0.485;0.456;0.406,std=0.229;0.224;0.225,input=data,output=feat</c>;
    /// keys left out keep their defaults. <c>size</c> is <c>N</c> or <c>WxH</c>; <c>resize</c> is stretch, crop or pad
    /// (<c>crop=center</c> is accepted too); <c>layout</c> must be nchw.
    /// </summary>
    public static ImagePreprocessing Parse(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec))
            throw new ReverseSdInputException("The image preprocessing spec is empty: give e.g. 'size=224,mean=0.485;0.456;0.406,std=0.229;0.224;0.225'.");
        var result = new ImagePreprocessing();
        foreach (string part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = part.IndexOf('=');
            if (eq <= 0)
                throw new ReverseSdInputException($"Preprocessing spec item '{part}' is not key=value (keys: {string.Join(", ", Keys)}).");
            string key = part[..eq].Trim().ToLowerInvariant(), value = part[(eq + 1)..].Trim();
            result = key switch
            {
                "size" => ParseSize(result, value),
                "resize" => result with { Resize = ParseResize(value) },
                "crop" => value.Equals("center", StringComparison.OrdinalIgnoreCase) || value.Equals("centre", StringComparison.OrdinalIgnoreCase)
                    ? result with { Resize = ImageResizeMode.CenterCrop }
                    : throw new ReverseSdInputException($"Preprocessing spec 'crop={value}': only crop=center is supported (or resize=stretch|crop|pad)."),
                "order" => result with { Order = ParseOrder(value) },
                "layout" => value.Equals("nchw", StringComparison.OrdinalIgnoreCase)
                    ? result
                    : throw new ReverseSdInputException($"Preprocessing spec 'layout={value}': only nchw is supported; export the encoder with NCHW input."),
                "scale" => result with { Scale = ParseFloat("scale", value) },
                "mean" => result with { Mean = ParseTriple("mean", value) },
                "std" => result with { Std = ParseTriple("std", value) },
                "input" => result with { InputName = value.Length > 0 ? value : null },
                "output" => result with { OutputName = value.Length > 0 ? value : null },
                _ => throw new ReverseSdInputException($"Preprocessing spec key '{key}' is unknown; the keys are: {string.Join(", ", Keys)}."),
            };
        }
        return result.Validated();
    }

    /// <summary>Reads a spec from a JSON file (keys as in <see cref="Parse"/>; <c>size</c> a number or "WxH", <c>mean</c>/<c>std</c> arrays).</summary>
    public static ImagePreprocessing Load(string jsonPath)
    {
        if (!File.Exists(jsonPath))
            throw new ReverseSdInputException($"Preprocessing spec file '{jsonPath}' does not exist.");
        JsonSpec? dto;
        try
        {
            dto = JsonSerializer.Deserialize<JsonSpec>(File.ReadAllText(jsonPath), JsonOptions);
        }
        catch (JsonException e)
        {
            throw new ReverseSdInputException($"Preprocessing spec file '{jsonPath}' is not valid JSON: {e.Message}", e);
        }
        if (dto == null)
            throw new ReverseSdInputException($"Preprocessing spec file '{jsonPath}' is empty.");
        var result = new ImagePreprocessing();
        if (dto.Size is { } size)
            result = ParseSize(result, size.ValueKind == JsonValueKind.Number ? size.GetRawText() : size.GetString() ?? "");
        if (dto.Resize != null) result = result with { Resize = ParseResize(dto.Resize) };
        if (dto.Order != null) result = result with { Order = ParseOrder(dto.Order) };
        if (dto.Layout != null && !dto.Layout.Equals("nchw", StringComparison.OrdinalIgnoreCase))
            throw new ReverseSdInputException($"Preprocessing spec file '{jsonPath}': layout '{dto.Layout}' is not supported; only nchw.");
        if (dto.Scale != null) result = result with { Scale = dto.Scale.Value };
        if (dto.Mean != null) result = result with { Mean = CheckTriple("mean", dto.Mean) };
        if (dto.Std != null) result = result with { Std = CheckTriple("std", dto.Std) };
        if (dto.Input != null) result = result with { InputName = dto.Input };
        if (dto.Output != null) result = result with { OutputName = dto.Output };
        return result.Validated();
    }

    /// <summary>Parses <paramref name="specOrPath"/> as a JSON file when it names an existing file (or ends in .json), else as a compact string.</summary>
    public static ImagePreprocessing ParseOrLoad(string specOrPath)
    {
        ArgumentNullException.ThrowIfNull(specOrPath);
        return File.Exists(specOrPath) || specOrPath.EndsWith(".json", StringComparison.OrdinalIgnoreCase)
            ? Load(specOrPath)
            : Parse(specOrPath);
    }

    /// <summary>The canonical compact form, which <see cref="Parse"/> reads back into an equal spec.</summary>
    public override string ToString()
    {
        var parts = new List<string>
        {
            "size=" + (Width == Height ? F(Width) : $"{F(Width)}x{F(Height)}"),
            "resize=" + Resize switch { ImageResizeMode.Stretch => "stretch", ImageResizeMode.Pad => "pad", _ => "crop" },
            "order=" + (Order == ChannelOrder.Bgr ? "bgr" : "rgb"),
            "layout=nchw",
            "scale=" + F(Scale),
            "mean=" + string.Join(';', Mean.Select(F)),
            "std=" + string.Join(';', Std.Select(F)),
        };
        if (InputName != null) parts.Add("input=" + InputName);
        if (OutputName != null) parts.Add("output=" + OutputName);
        return string.Join(',', parts);
    }

    /// <summary>Value equality including the per-channel lists.</summary>
    public bool Equals(ImagePreprocessing? other) => other is not null && ToString() == other.ToString();

    /// <summary>Hash consistent with <see cref="Equals(ImagePreprocessing?)"/>.</summary>
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(ToString());

    internal ImagePreprocessing Validated()
    {
        if (Width < 8 || Height < 8 || Width > 4096 || Height > 4096)
            throw new ReverseSdInputException($"Preprocessing size {Width}x{Height} is out of range: use 8..4096 pixels.");
        CheckTriple("mean", Mean);
        CheckTriple("std", Std);
        if (Std.Any(s => !(s > 0) || !float.IsFinite(s)))
            throw new ReverseSdInputException($"Preprocessing std={string.Join(';', Std.Select(F))} must be three positive numbers.");
        if (!(Scale > 0) || !float.IsFinite(Scale))
            throw new ReverseSdInputException($"Preprocessing scale={F(Scale)} must be a positive number (1/255 = 0.00392157 for 0..1 inputs).");
        if (!Enum.IsDefined(Resize) || !Enum.IsDefined(Order))
            throw new ReverseSdInputException("Preprocessing resize mode or channel order is not a defined value.");
        return this;
    }

    private static string F(float v) => v.ToString("R", CultureInfo.InvariantCulture);

    private static string F(int v) => v.ToString(CultureInfo.InvariantCulture);

    private static ImagePreprocessing ParseSize(ImagePreprocessing spec, string value)
    {
        var parts = value.Split('x', 'X');
        if (parts.Length is 1 or 2
            && int.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out int w)
            && int.TryParse(parts[^1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int h))
            return spec with { Width = w, Height = h };
        throw new ReverseSdInputException($"Preprocessing size '{value}' is not N or WxH (e.g. size=224 or size=256x192).");
    }

    private static ImageResizeMode ParseResize(string value) => value.ToLowerInvariant() switch
    {
        "stretch" or "fill" or "resize" => ImageResizeMode.Stretch,
        "crop" or "center-crop" or "centercrop" => ImageResizeMode.CenterCrop,
        "pad" => ImageResizeMode.Pad,
        _ => throw new ReverseSdInputException($"Preprocessing resize '{value}' is unknown: use stretch, crop or pad."),
    };

    private static ChannelOrder ParseOrder(string value) => value.ToLowerInvariant() switch
    {
        "rgb" => ChannelOrder.Rgb,
        "bgr" => ChannelOrder.Bgr,
        _ => throw new ReverseSdInputException($"Preprocessing order '{value}' is unknown: use rgb or bgr."),
    };

    private static float ParseFloat(string key, string value) =>
        float.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out float f)
            ? f
            : throw new ReverseSdInputException($"Preprocessing {key}='{value}' is not a number.");

    private static float[] ParseTriple(string key, string value)
    {
        var parts = value.Split(';', StringSplitOptions.TrimEntries);
        if (parts.Length == 1) parts = [parts[0], parts[0], parts[0]];
        return CheckTriple(key, parts.Select(p => ParseFloat(key, p)).ToArray());
    }

    private static float[] CheckTriple(string key, IReadOnlyList<float> values)
    {
        if (values.Count != 3 || values.Any(v => !float.IsFinite(v)))
            throw new ReverseSdInputException($"Preprocessing {key} needs three finite numbers separated by ';' (one per channel), got {values.Count}.");
        return values.ToArray();
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNameCaseInsensitive = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    private sealed class JsonSpec
    {
        [JsonPropertyName("size")] public JsonElement? Size { get; set; }
        [JsonPropertyName("resize")] public string? Resize { get; set; }
        [JsonPropertyName("order")] public string? Order { get; set; }
        [JsonPropertyName("layout")] public string? Layout { get; set; }
        [JsonPropertyName("scale")] public float? Scale { get; set; }
        [JsonPropertyName("mean")] public float[]? Mean { get; set; }
        [JsonPropertyName("std")] public float[]? Std { get; set; }
        [JsonPropertyName("input")] public string? Input { get; set; }
        [JsonPropertyName("output")] public string? Output { get; set; }
    }
}
