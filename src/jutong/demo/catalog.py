"""The demo city's resource catalog (政务信息资源目录): deterministic data and its idempotent loader.

318 resources of 25 departments are catalogued; 300 are published and their share types are seed 003's
mix scaled to 300 (1257 : 1964 : 529 of 3750 → 101 无条件共享, 157 有条件共享, 42 不予共享); 10 are drafts
and 8 wait for review. Five departments have no entry at all (气象局, 档案局, 信访局, 退役军人事务局, 残联),
as seed 003 found 21 departments that reported nothing. Seven registry resources carry hand-written data
items bound to the national data elements; the others get items that fit what they describe (a person,
an organisation or a licence, a business record). Everything goes through the real services, so codes,
versions, audit events and the search index are what a steward and the operator would have produced;
three resources have a second published version for the diff page.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.catalog import service, standards_local, workflow
from jutong.catalog.models import DataElement, Resource, ResourceStatus, StandardSource
from jutong.catalog.schemas import DataItemIn, ResourceIn, ResourcePatch
from jutong.catalog.standards import load_national_standards
from jutong.core.auth import CLI_PRINCIPAL, Principal, Role
from jutong.demo.city import DemoCity, DemoDepartment, DemoSystem
from jutong.registry import accounts
from jutong.registry.models import Department, User

SEED = "jutong-示范市-目录-2024"
EMPTY_DEPARTMENTS = ("QX", "DA", "XF", "TY", "CL")  # 气象局、档案局、信访局、退役军人事务局、残联
PUBLISHED_SHARES = {"unconditional": 101, "conditional": 157, "none": 42}  # seed 003 scaled to 300
LOCAL_ADDRESS = "住所"  # a local data element: 企业住所 is not a person's 住址 (DE0007, personal information)
POPULATION, ENTERPRISE = "常住人口基础信息", "企业登记信息"


@dataclass(frozen=True)
class DemoItem:
    name: str
    element: str  # DE…, or the name of a local element
    column: str
    key: bool = False
    description: str = ""


@dataclass(frozen=True)
class DemoResource:
    department_code: str
    name: str
    classification_code: str
    summary: str
    share_type: str
    share_condition: str
    open_type: str
    update_cycle: str
    format_category: str
    format_type: str
    delivery: str
    items: tuple[DemoItem, ...]
    system_code: str | None = None
    related: tuple[str, ...] = ()  # names of resources created before this one
    open_condition: str = ""
    status: ResourceStatus = ResourceStatus.published
    publish_date: date | None = None
    second: dict[str, Any] = field(default_factory=dict)  # a second published version: changed fields
    second_note: str = ""


def _items(*rows: str) -> tuple[DemoItem, ...]:
    """``名称|数据元|列名[|key][|说明]``."""
    out = []
    for row in rows:
        name, element, column, *rest = row.split("|")
        out.append(DemoItem(name, element, column, "key" in rest, next((r for r in rest if r != "key"), "")))
    return tuple(out)


_HOUSEHOLD = _items(
    "公民身份号码|DE0001|gmsfhm|key",
    "姓名|DE0002|xm",
    "性别代码|DE0003|xbdm",
    "民族代码|DE0004|mzdm",
    "出生日期|DE0005|csrq",
    "户籍地址|DE0018|hjdz",
    "户号|DE0016|hh",
)
_MARRIAGE_CONDITION = "仅限办理户籍登记、社会救助、住房保障等法定业务时核验婚姻状况使用，不得用于其他用途"
_SUBSISTENCE_CONDITION = (
    "仅限办理社会救助、医疗救助、住房保障、教育资助和费用减免等法定业务时核验低保对象身份使用，"
    "不得公开或提供给第三方"
)

# The registry resources, in creation order (related resources first). Positional fields: department,
# name, classification, summary, share type, share condition, open type, update cycle, format, format
# type, delivery, items.
# fmt: off
REGISTRY: tuple[DemoResource, ...] = (
    DemoResource(
        "GA", "户籍人口基本信息", "101002",
        "全市户籍人口的户口登记信息，含公民身份号码、姓名、性别、民族、出生日期、户籍地址和户号，"
        "由人口信息管理系统在办理户口登记、迁移、出生和死亡申报时形成。",
        "unconditional", "", "closed", "daily", "database", "达梦 DM8", "api", _HOUSEHOLD,
        system_code="GA-001",
        second={"items": (*_HOUSEHOLD, DemoItem("与户主关系", "DE0017", "yhzgx")), "update_cycle": "realtime"},
        second_note="增加“与户主关系”信息项；户口登记办结即同步，更新周期改为实时",
    ),
    DemoResource(
        "GA", POPULATION, "101001",
        "全市常住人口（户籍人口和居住半年以上的流动人口）的基础信息，是人口基础库的权威来源，"
        "供各部门办理涉及个人身份的业务时比对核验。",
        "conditional", "仅限依法履行职责需要核验公民身份的部门使用，按所需信息项申请，身份证号和姓名脱敏提供",
        "closed", "daily", "database", "达梦 DM8", "api",
        _items(
            "公民身份号码|DE0001|gmsfhm|key", "姓名|DE0002|xm", "性别代码|DE0003|xbdm", "民族代码|DE0004|mzdm",
            "出生日期|DE0005|csrq", "居住地址|DE0007|jzdz", "居住地行政区划代码|DE0011|jzdxzqh",
            "数据更新时间|DE0042|gxsj",
        ),
        system_code="GA-001", related=("户籍人口基本信息",),
    ),
    DemoResource(
        "SJ", ENTERPRISE, "102001",
        "全市企业的设立、变更登记信息，含统一社会信用代码、企业名称、法定代表人、注册资本、成立日期、"
        "登记机关、经营范围、住所和企业类型。",
        "unconditional", "", "conditional", "daily", "database", "KingbaseES", "api",
        _items(
            "统一社会信用代码|DE0008|tyshxydm|key", "企业名称|DE0025|qymc", "法定代表人姓名|DE0010|fddbrxm",
            "注册资本|DE0026|zczb|单位：万元", "成立日期|DE0027|clrq", "登记机关|DE0021|djjg",
            "经营范围|DE0028|jyfw", f"住所|{LOCAL_ADDRESS}|zs", "企业类型|DE0029|qylx",
        ),
        system_code="SJ-001", open_condition="经申请审核后开放，用于企业信用查询服务",
        second={
            "open_type": "open", "open_condition": "",
            "summary": "全市企业的设立、变更登记信息（国家企业信用信息公示系统公示的内容），含统一社会信用代码、"
            "企业名称、法定代表人、注册资本、成立日期、登记机关、经营范围、住所和企业类型，无条件向社会开放。",
        },
        second_note="按企业信息公示要求改为无条件开放",
    ),
    DemoResource(
        "ZW", "电子证照信息", "105001",
        "各部门签发的电子证照目录信息（营业执照、结婚证、居民户口簿、社会保障卡等），"
        "供办理政务服务事项时调用证照、免交纸质材料。",
        "conditional", "仅限办理政务服务事项时经持证主体授权调用，不得留存证照信息另作他用", "closed",
        "realtime", "service", "REST/JSON", "api",
        _items(
            "证照编号|DE0013|zzbh|key", "证照类型|DE0014|zzlx", "持证主体|DE0033|czzt",
            "持证主体代码|DE0034|czztdm", "颁发机构|DE0030|bfjg", "颁发日期|DE0031|bfrq", "有效期至|DE0032|yxqz",
        ),
        system_code="ZW-001", related=(POPULATION, ENTERPRISE),
    ),
    DemoResource(
        "MZ", "婚姻登记信息", "101003",
        "婚姻登记机关办理结婚、离婚登记和补领婚姻登记证形成的信息，含证件字号、双方身份信息、登记日期和登记机关。",
        "conditional", "仅限依法履行职责需要核验婚姻状况的部门使用", "closed", "daily", "database", "MySQL", "api",
        _items(
            "结婚证字号|DE0020|jhzzh|key|结婚证或离婚证字号", "男方公民身份号码|DE0001|nf_gmsfhm",
            "男方姓名|DE0002|nf_xm", "女方公民身份号码|DE0001|nv_gmsfhm", "女方姓名|DE0002|nv_xm",
            "登记日期|DE0012|djrq", "登记机关|DE0021|djjg",
            "婚姻登记类别|DE0015|hydjlb|按 GB/T 2261.2 记登记后的婚姻状况：20 已婚（结婚登记）、40 离婚（离婚登记）",
        ),
        system_code="MZ-002", related=(POPULATION,),
        second={"share_condition": _MARRIAGE_CONDITION},
        second_note="按《政务数据共享条例》细化共享条件，列明可使用的业务",
    ),
    DemoResource(
        "RS", "社会保险参保信息", "203001",
        "参保人员在企业职工基本养老保险、失业保险、工伤保险各险种的参保登记信息，含参保状态、参保日期和参保单位。",
        "conditional", "仅限办理社保业务使用", "closed", "daily", "database", "Oracle", "api",
        _items(
            "公民身份号码|DE0001|gmsfhm|key", "险种类型|DE0022|xzlx|key", "姓名|DE0002|xm",
            "参保状态|DE0023|cbzt", "参保日期|DE0024|cbrq", "单位名称|DE0009|dwmc",
            "统一社会信用代码|DE0008|tyshxydm|参保单位的统一社会信用代码",
        ),
        system_code="RS-001", related=(POPULATION, ENTERPRISE),
    ),
    DemoResource(
        "MZ", "最低生活保障对象信息", "307002",
        "经审核确认的城乡最低生活保障对象个人信息，含公民身份号码、姓名、性别、出生日期、居住地址、"
        "居住地行政区划、联系电话和认定日期，由社会救助信息管理系统在低保申请审核和动态管理中形成。",
        "conditional", _SUBSISTENCE_CONDITION, "closed", "daily", "database", "KingbaseES", "api",
        _items(
            "公民身份号码|DE0001|gmsfhm|key", "姓名|DE0002|xm", "性别代码|DE0003|xbdm", "出生日期|DE0005|csrq",
            "居住地址|DE0007|jzdz", "居住地行政区划代码|DE0011|jzdxzqh", "联系电话|DE0006|lxdh|低保对象本人或监护人的手机号码",
            "认定日期|DE0012|rdrq|县级民政部门审核确认其低保对象资格的日期", "数据更新时间|DE0042|gxsj",
        ),
        system_code="MZ-001", related=(POPULATION,),
    ),
)
# fmt: on

# Every other resource, by department: ``名称[/P 个人 | /O 单位]`` (default: a business record);
# ``~`` marks a draft, ``^`` one waiting for review.
BULK: dict[str, str] = {
    "GA": "暂住人口登记信息/P、出生登记信息/P、死亡注销登记信息/P、户口迁入登记信息/P、户口迁出登记信息/P、"
    "居民身份证办理信息/P、机动车登记信息/P、机动车驾驶人信息/P、道路交通事故信息、交通违法处理信息/P、"
    "出入境证件签发信息/P、旅馆业住宿登记信息/P、旅馆业单位信息/O、保安服务公司信息/O、犯罪记录查询信息/P、"
    "剧毒化学品购买许可信息/O、烟花爆竹运输许可信息/O、消防安全重点单位信息/O、居住证办理信息/P、"
    "刑事案件立案信息、治安案件处罚信息/P、犬类登记信息/P~、枪支管理信息/O^、户籍证明开具信息/P、重点场所视频监控点位信息",
    "MZ": "特困人员供养信息/P、临时救助信息/P、低收入家庭认定信息/P、社会团体登记信息/O、"
    "民办非企业单位登记信息/O、基金会登记信息/O、养老机构备案信息/O、高龄津贴发放信息/P、殡葬火化信息/P、"
    "孤儿基本生活保障信息/P、困境儿童信息/P、残疾人两项补贴发放信息/P、居民家庭经济状况核对信息/P、"
    "行政区划信息、标准地名信息、慈善组织认定信息/O、收养登记信息/P^、流浪乞讨人员救助信息/P~、社会工作者职业资格信息/P",
    "RS": "社会保险缴费信息/P、养老保险待遇发放信息/P、失业保险金申领信息/P、工伤认定信息/P、就业登记信息/P、"
    "失业登记信息/P、创业担保贷款信息/P、社会保障卡信息/P、职业技能等级证书信息/P、专业技术人员职称信息/P、"
    "劳动合同备案信息/O、劳动保障监察案件信息/O、劳动人事争议仲裁案件信息、人力资源服务许可信息/O、"
    "技工院校信息/O、参保单位信息/O、企业职工退休审批信息/P、社会保险稽核信息/O、就业困难人员认定信息/P、"
    "高技能人才信息/P~、人才引进信息/P",
    "SJ": "个体工商户登记信息/P、农民专业合作社登记信息/O、企业年度报告信息/O、经营异常名录信息/O、"
    "严重违法失信企业名单信息/O、市场监管行政处罚信息/O、食品生产许可信息/O、食品经营许可信息/O、"
    "特种设备使用登记信息/O、工业产品生产许可信息/O、计量器具检定信息、股权出质登记信息/O、"
    "动产抵押登记信息/O、食品安全抽检信息、消费投诉举报信息、广告经营登记信息/O^、网络交易经营者信息/O、知识产权质押登记信息/O、商标注册信息/O",
    "WJ": "出生医学证明信息/P、医疗机构执业登记信息/O、医师执业注册信息/P、护士执业注册信息/P、预防接种信息/P、"
    "居民电子健康档案信息/P、死亡医学证明信息/P、法定传染病报告信息/P、计划生育家庭特别扶助信息/P、"
    "公共场所卫生许可信息/O、母婴保健技术服务许可信息/O、家庭医生签约信息/P、卫生资源统计信息、"
    "职业病诊断信息/P、放射诊疗许可信息/O~、健康体检机构信息/O",
    "JY": "中小学生学籍信息/P、义务教育招生入学信息/P、教师资格证书信息/P、学前教育幼儿信息/P、学校基本信息/O、"
    "民办学校办学许可信息/O、学生资助信息/P、中考成绩信息/P、校外培训机构信息/O、教师基本信息/P、"
    "校车使用许可信息/O、高校毕业生生源信息/P、教育经费统计信息^、职业学校学生信息/P",
    "ZJ": "房屋租赁登记备案信息/P、商品房网签备案信息/P、存量房交易信息/P、建筑工程施工许可信息/O、"
    "公共租赁住房保障信息/P、建筑业企业资质信息/O、房地产开发企业资质信息/O、注册建造师信息/P、"
    "物业服务企业信息/O、住房公积金缴存信息/P、城镇燃气经营许可信息/O、建设工程竣工验收备案信息/O、"
    "商品房预售许可信息/O、城市房屋征收补偿信息/P",
    "ZR": "不动产登记信息/P、不动产权证书信息/P、国有建设用地使用权出让信息/O、建设用地规划许可信息/O、"
    "建设工程规划许可信息/O、基础测绘成果信息、遥感影像数据、国土空间规划信息、采矿权登记信息/O、"
    "土地利用现状信息、地质灾害隐患点信息、永久基本农田信息、林权登记信息/P~、测绘资质信息/O~",
    "SHJ": "审计项目信息、审计发现问题整改信息/O、审计报告信息、经济责任审计信息/P、内部审计机构信息/O",
    "DSJ": "政务信息系统普查信息、政务云资源使用信息/O、电子政务外网接入单位信息/O、城市运行体征指标数据、"
    "政务数据共享调用信息、网络安全事件信息、数据资源普查信息、公共数据开放目录信息^、政务数据共享接口清单",
    "CZ": "部门预算信息/O、国库集中支付信息/O、非税收入缴款信息/P、政府采购合同信息/O、政府采购供应商信息/O、"
    "行政事业单位国有资产信息/O、财政票据信息、会计人员信息/P、财政专项资金信息/O、惠民惠农补贴发放信息/P、政府投资基金信息/O",
    "FG": "投资项目审批信息/O、企业投资项目备案信息/O、重点项目建设进度信息、公共信用信息/O、信用修复信息/O、"
    "失信联合惩戒对象名单信息/O、价格监测信息、粮食储备库存信息、政府定价目录信息、守信激励对象名单信息/O、"
    "节能审查信息/O~、价格认定信息",
    "JT": "道路运输经营许可信息/O、营运车辆信息/O、道路运输从业人员资格信息/P、出租汽车驾驶员信息/P、"
    "网约车平台公司信息/O、公交线路信息、公交车辆实时位置数据、超限运输许可信息/O、交通工程建设项目信息/O、"
    "机动车维修经营备案信息/O、驾驶员培训机构信息/O、路政案件信息/O、港口经营许可信息/O",
    "SL": "取水许可信息/O、水资源费征收信息/O、雨水情监测数据、水库基本信息、河湖长信息/P、河道采砂许可信息/O、"
    "水利工程建设项目信息/O、水土保持方案审批信息/O、防汛物资储备信息、农村饮水安全工程信息",
    "NY": "农村土地承包经营权信息/P、土地流转信息/P、农机购置补贴信息/P、动物检疫证明信息/O、农药经营许可信息/O、"
    "兽药经营许可信息/O、种子生产经营许可信息/O、家庭农场名录信息/O、农作物种植面积统计信息、"
    "耕地地力保护补贴信息/P、新型农业经营主体信息/O~、农产品质量安全检测信息",
    "SW": "对外贸易经营者备案信息/O、单用途预付卡发卡企业备案信息/O、成品油零售经营许可信息/O、"
    "限额以上商贸企业信息/O、拍卖企业备案信息/O、商贸流通统计信息、外商投资企业信息/O、"
    "报废机动车回收企业信息/O、再生资源回收经营者备案信息/O",
    "WL": "文化市场经营许可信息/O、旅行社信息/O、导游人员信息/P、A级旅游景区信息/O、景区实时客流数据、"
    "文物保护单位信息、公共图书馆读者信息/P、星级饭店信息/O、文化市场行政处罚信息/O、非物质文化遗产代表性传承人信息/P",
    "YJ": "安全生产许可信息/O、危险化学品经营许可信息/O、安全生产行政处罚信息/O、生产安全事故信息、"
    "应急救援队伍信息、应急物资储备信息、自然灾害灾情信息、应急避难场所信息、特种作业操作证信息/P、"
    "安全生产标准化企业信息/O、非煤矿山企业信息/O^",
    "ST": "排污许可证信息/O、建设项目环评审批信息/O、环境质量监测数据、重点排污单位信息/O、环境行政处罚信息/O、"
    "危险废物经营许可信息/O、机动车环保检验信息、辐射安全许可信息/O、突发环境事件信息、环境信用评价信息/O、生态环境监测机构信息/O",
    "SWJ": "纳税人登记信息/O、纳税信用等级信息/O、欠税公告信息/O、个体工商户定期定额信息/P、"
    "重大税收违法失信案件信息/O、增值税发票信息/O、个人所得税纳税信息/P、社会保险费征缴信息/O、完税证明信息/P、"
    "税收减免信息/O、车船税信息/P~",
    "YB": "基本医疗保险参保信息/P、医疗费用结算信息/P、异地就医备案信息/P、定点医药机构信息/O、医保药品目录信息、"
    "门诊慢特病待遇认定信息/P、医疗救助信息/P、医保基金监管违规信息/O、长期护理保险待遇信息/P、医保电子凭证信息/P、"
    "药品集中采购信息/O、生育保险待遇信息/P^",
    "TJ": "国民经济主要指标数据、人口抽样调查汇总数据、统计年鉴数据、名录库单位信息/O、规模以上工业企业统计数据/O、"
    "统计执法检查信息/O、经济普查汇总数据",
    "SF": "法律援助信息/P、律师执业信息/P、律师事务所信息/O、公证机构信息/O、社区矫正对象信息/P、人民调解案件信息/P、"
    "行政复议案件信息、司法鉴定机构信息/O、刑满释放人员信息/P",
    "CG": "城市部件信息、城市管理案件信息、户外广告设置许可信息/O、建筑垃圾处置核准信息/O、渣土运输车辆信息/O、"
    "环卫作业车辆信息、城市道路占用挖掘许可信息/O、市政设施信息^、公共停车场信息/O",
    "ZW": "政务服务事项清单信息、政务服务办件信息/P、12345热线工单信息/P、政务服务好差评信息、统一身份认证用户信息/P、"
    "窗口办件量统计信息、一件事一次办事项信息~、政务服务中心窗口信息",
}

_STOP_BIGRAMS = frozenset({"信息", "登记", "管理", "系统", "数据", "服务", "办理", "全市", "业务"})
_THEMES = (  # keyword → a base or theme classification instead of the department's own
    (("社会保险", "养老保险", "失业保险", "工伤", "医疗保险", "参保", "社会保障卡"), "203001"),
    (("信用", "失信", "守信", "经营异常", "严重违法"), "104001"),
    (("测绘", "遥感", "国土空间"), "103001"),
    (("个体工商户登记", "农民专业合作社登记"), "102001"),
    (("社会团体登记", "民办非企业", "基金会登记"), "102002"),
)
_NONE_BASIS = {
    "GA": "《中华人民共和国保守国家秘密法》及公安工作国家秘密范围的规定：涉及侦查、治安工作秘密",
    "SWJ": "《中华人民共和国税收征收管理法》第八条：税务机关应当依法为纳税人、扣缴义务人的情况保密",
    "TJ": "《中华人民共和国统计法》：能够识别或者推断单个统计调查对象身份的资料不得对外提供",
    "WJ": "《中华人民共和国基本医疗卫生与健康促进法》第九十二条：国家保护公民个人健康信息",
    "YB": "《中华人民共和国基本医疗卫生与健康促进法》第九十二条：国家保护公民个人健康信息",
}
_PERSONAL_BASIS = (
    "《中华人民共和国个人信息保护法》第三十四条：国家机关处理个人信息不得超出履行法定职责所必需的范围和限度"
)
_DATA_BASIS = "《中华人民共和国数据安全法》第二十一条：重要数据实行重点保护，按保密规定不予共享"


def _bigrams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)} - _STOP_BIGRAMS


def _system_for(name: str, systems: list[DemoSystem]) -> str | None:
    """The department's census system whose name and description share the most with the resource."""
    wanted = _bigrams(name.removesuffix("信息").removesuffix("数据"))
    scored = [
        (len(wanted & _bigrams(s.name + s.description)), s.code) for s in systems if s.status != "retired"
    ]
    best = max(scored, default=(0, ""))
    return best[1] if best[0] >= 2 else None


# fmt: off
_KIND_ITEMS = {  # P 个人, L 单位的许可证照, O 单位, B 业务记录; {stem} is the resource name without 信息/数据
    "P": ("{stem}编号|DE0044|ywbh|key", "公民身份号码|DE0001|gmsfhm", "姓名|DE0002|xm", "登记日期|DE0012|djrq",
          "数据更新时间|DE0042|gxsj"),
    "L": ("许可证编号|DE0013|xkzbh|key", "统一社会信用代码|DE0008|tyshxydm", "单位名称|DE0009|dwmc",
          "颁发机构|DE0030|bfjg", "颁发日期|DE0031|bfrq", "有效期至|DE0032|yxqz"),
    "O": ("统一社会信用代码|DE0008|tyshxydm|key", "单位名称|DE0009|dwmc", "法定代表人姓名|DE0010|fddbrxm",
          "登记日期|DE0012|djrq", "数据更新时间|DE0042|gxsj"),
    "B": ("记录编号|DE0044|jlbh|key", "行政区划代码|DE0011|xzqhdm", "登记日期|DE0012|djrq", "备注|DE0037|bz",
          "数据更新时间|DE0042|gxsj"),
}
# fmt: on


def _bulk_items(name: str, kind: str) -> tuple[DemoItem, ...]:
    if kind == "O" and any(w in name for w in ("许可", "资质", "证")):
        kind = "L"
    stem = name.removesuffix("信息").removesuffix("数据")
    return _items(*(row.replace("{stem}", stem) for row in _KIND_ITEMS[kind]))


def _bulk_entries() -> list[tuple[str, str, str, ResourceStatus]]:
    """(department, name, kind, status) for every bulk resource, in creation order."""
    out = []
    for department, text in BULK.items():
        for raw in text.split("、"):
            status = {"~": ResourceStatus.draft, "^": ResourceStatus.submitted}.get(
                raw[-1], ResourceStatus.published
            )
            raw = raw.rstrip("~^")
            name, _, kind = raw.partition("/")
            out.append((department, name, kind or "B", status))
    return out


def _terms(
    rng: random.Random, department: DemoDepartment, name: str, kind: str, share: str
) -> tuple[str, ...]:
    """共享条件 or 不予共享依据, open type and open condition."""
    if share == "none":
        basis = _NONE_BASIS.get(department.code, "") if department.code != "GA" or kind != "P" else ""
        return basis or (_PERSONAL_BASIS if kind == "P" else _DATA_BASIS), "closed", ""
    if share == "conditional":
        condition = rng.choice(
            (
                f"仅限依法办理{department.short}相关业务使用，经{department.short}审核同意后共享",
                "仅限核验使用，按申请用途使用，不得提供给第三方",
                f"仅限办理{name.removesuffix('信息')}相关业务使用",
            )
        )
        if kind != "P" and rng.random() < 0.2:
            return condition, "conditional", "经申请审核并签订数据使用协议后开放，不含个人信息"
        return condition, "closed", ""
    if kind == "P":
        return "", "closed", ""
    open_type = rng.choice(("open", "open", "conditional", "closed", "closed"))
    return "", open_type, "经申请审核后开放" if open_type == "conditional" else ""


def _shape(rng: random.Random, name: str) -> tuple[str, str, str, str]:
    """Format, format type, delivery and update cycle."""
    if any(w in name for w in ("统计", "汇总", "年鉴", "指标")):
        return "spreadsheet", "XLSX", "file", rng.choice(("yearly", "quarterly", "monthly"))
    if any(w in name for w in ("监测", "实时", "位置", "客流")):
        return "service", "REST/JSON", "api", "realtime"
    fmt_type = rng.choice(("达梦 DM8", "KingbaseES", "Oracle", "MySQL", "PostgreSQL"))
    delivery = rng.choice(("api", "api", "table", "file"))
    cycle = rng.choice(("realtime", "daily", "daily", "weekly", "monthly", "monthly", "quarterly"))
    return "database", fmt_type, delivery, cycle


def _shares(
    entries: list[tuple[str, str, str, ResourceStatus]], rng: random.Random
) -> dict[tuple[str, str], str]:
    """Share types of the published bulk resources, exactly seed 003's mix with the registry ones:
    personal data first to 不予共享 / 有条件共享, organisations last."""
    offset = {"P": 0.0, "B": 0.5, "O": 0.8}
    published = [e for e in entries if e[3] == ResourceStatus.published]
    ranked = sorted(published, key=lambda e: rng.random() + offset[e[2]])
    fixed = {share: sum(1 for r in REGISTRY if r.share_type == share) for share in PUBLISHED_SHARES}
    pool = [share for share, n in PUBLISHED_SHARES.items() for _ in range(n - fixed[share])]
    pool.sort(key=["none", "conditional", "unconditional"].index)
    return {(e[0], e[1]): share for e, share in zip(ranked, pool, strict=True)}


def build_catalog(city: DemoCity) -> tuple[DemoResource, ...]:
    """The whole demo catalog for the city (its reference date fixes the publish dates)."""
    rng = random.Random(SEED)
    departments = {d.code: d for d in city.departments}
    entries = _bulk_entries()
    shares = _shares(entries, rng)
    resources = [
        replace(r, publish_date=city.reference - timedelta(days=400 + 7 * i)) for i, r in enumerate(REGISTRY)
    ]
    for index, (code, name, kind, status) in enumerate(entries):
        share = shares.get((code, name)) or rng.choice(("unconditional", "conditional", "none"))
        condition, open_type, open_condition = _terms(rng, departments[code], name, kind, share)
        fmt, fmt_type, delivery, cycle = _shape(rng, name)
        classification = next(
            (c for words, c in _THEMES if any(w in name for w in words)),
            f"307{list(departments).index(code) + 1:03d}",
        )
        items = _bulk_items(name, kind)
        systems = [s for s in city.systems if s.department_code == code]
        system = _system_for(name, systems)
        where = next((s.name for s in systems if s.code == system), "日常业务")
        related: tuple[str, ...] = ()
        if classification.startswith("3") and kind == "P":
            related = (POPULATION,)
        elif classification.startswith("3") and kind == "O" and code not in ("MZ", "JY", "WJ"):
            related = (ENTERPRISE,)
        summary = f"{departments[code].name}在{where}中形成的{name}，包括{'、'.join(i.name for i in items)}等信息项。"
        resources.append(DemoResource(
            code, name, classification, summary, share, condition, open_type, cycle, fmt, fmt_type, delivery,
            items, system_code=system, related=related, open_condition=open_condition, status=status,
            publish_date=city.reference - timedelta(days=30 + (index * 37) % 700),
        ))  # fmt: skip
    return tuple(resources)


# ---- loading ---------------------------------------------------------------------------------------


def _operator(users: dict[str, User]) -> Principal:
    admin = users.get("admin")
    if admin is not None and admin.role == Role.operator.value and admin.active:
        return accounts.principal_for(admin, via="cli")
    return CLI_PRINCIPAL


def _local_elements(session: Session, operator: Principal) -> dict[str, str]:
    """The demo's local data elements (name → identifier), added once."""
    found = session.scalar(
        select(DataElement).where(
            DataElement.name == LOCAL_ADDRESS, DataElement.source == StandardSource.local.value
        )
    )
    if found is None:
        found = standards_local.add_local_element(
            session,
            operator,
            name=LOCAL_ADDRESS,
            data_type="C",
            length=200,
            english_name="Domicile",
            definition="企业、单位登记的住所（主要办事机构所在地），属登记公示信息，不是个人住址",
            format="a..200",
        )
    return {LOCAL_ADDRESS: found.identifier}


def _input(
    demo: DemoResource, department_id: int, codes: dict[str, str], local: dict[str, str]
) -> ResourceIn:
    return ResourceIn(
        classification_code=demo.classification_code,
        name=demo.name,
        department_id=department_id,
        summary=demo.summary,
        format_category=demo.format_category,
        format_type=demo.format_type,
        share_type=demo.share_type,
        share_condition=demo.share_condition,
        delivery=demo.delivery,
        open_type=demo.open_type,
        open_condition=demo.open_condition,
        update_cycle=demo.update_cycle,
        publish_date=demo.publish_date,
        system_code=demo.system_code,
        related_codes=[codes[name] for name in demo.related if name in codes],
        items=_item_inputs(demo.items, local),
    )


def _item_inputs(items: tuple[DemoItem, ...], local: dict[str, str]) -> list[DataItemIn]:
    return [
        DataItemIn(
            name=i.name,
            column_name=i.column,
            element_identifier=local.get(i.element, i.element),
            is_key=i.key,
            required=i.key,
            description=i.description,
        )
        for i in items
    ]


def load_catalog(session: Session, city: DemoCity, users: dict[str, User]) -> int:
    """Create the demo resources that are missing (found by department and name); returns how many.

    Resources already there are left exactly as they are, so loading twice changes nothing."""
    load_national_standards(session)
    demo = build_catalog(city)
    departments = {d.code: d for d in session.scalars(select(Department))}
    existing = {
        (dep, name): code
        for dep, name, code in session.execute(select(Resource.department_id, Resource.name, Resource.code))
    }
    codes = {name: code for (_, name), code in existing.items()}
    operator = _operator(users)
    local = _local_elements(session, operator)
    created = 0
    for resource in demo:
        department = departments[resource.department_code]
        if (department.id, resource.name) in existing:
            continue
        saved = service.save_resource(session, operator, _input(resource, department.id, codes, local))
        codes[resource.name] = saved.code
        created += 1
        if resource.status == ResourceStatus.draft:
            continue
        workflow.submit(session, operator, saved.id)
        if resource.status == ResourceStatus.submitted:
            continue
        workflow.publish(session, operator, saved.id, note="示范市目录首次发布")
        if resource.second:
            changes = dict(resource.second)
            if "items" in changes:
                changes["items"] = _item_inputs(changes["items"], local)
            changes["publish_date"] = city.reference - timedelta(days=60)
            service.patch_resource(session, operator, saved.id, ResourcePatch(**changes))
            workflow.submit(session, operator, saved.id)
            workflow.publish(session, operator, saved.id, note=resource.second_note)
    return created
